"""The placeholders of guest message templates, and the small renderer that fills them.

A manager writes `Hello {guest_name}, your code for {listing}: {doors}`. Each `{name}` is
replaced by a value Keystay computed for the stay; nothing else is interpreted. No
template engine runs a manager's text: there is no attribute access into models, no tag,
no filter, so a template can only ever show the facts listed here. `{{` and `}}` write a
literal brace. A name that is not listed is refused when the template is saved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from django.core.exceptions import ValidationError

# name -> what it becomes (shown beside the template form and in refusals).
PLACEHOLDERS: dict[str, str] = {
    "guest_name": "The guest's name.",
    "organization": "Your organization's name.",
    "listing": "The listing's name.",
    "property": "The property's name.",
    "property_address": "The property's address.",
    "check_in": "Check-in in the property's local time, with its time zone.",
    "check_out": "Check-out in the property's local time, with its time zone.",
    "doors": (
        "Each door with the code that opens it, one per line; a door with a code of its "
        "own is marked."
    ),
    "guest_link": "The guest's private page (doors, codes and instructions).",
    "check_in_instructions": "The listing's check-in instructions.",
    "changes": (
        "What changed since the guest was last told (times, codes, doors); empty in a "
        "first message."
    ),
}

# `{{`, `}}`, or a `{name}` (spaces allowed inside the braces). Anything else, JSON or a
# lone brace, is left as it is.
_TOKEN = re.compile(r"\{\{|\}\}|\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}")


def placeholders_in(text: str) -> list[str]:
    """The placeholder names a text uses, in order of first use."""
    seen: dict[str, None] = {}
    for match in _TOKEN.finditer(text or ""):
        if match.group(1):
            seen.setdefault(match.group(1), None)
    return list(seen)


def unknown_placeholders(text: str) -> list[str]:
    return [name for name in placeholders_in(text) if name not in PLACEHOLDERS]


def valid_list() -> str:
    return ", ".join("{" + name + "}" for name in PLACEHOLDERS)


def validate_placeholders(text: str) -> None:
    """Refuse a text that uses a placeholder Keystay does not fill, naming the valid ones."""
    unknown = unknown_placeholders(text)
    if unknown:
        names = ", ".join("{" + name + "}" for name in unknown)
        raise ValidationError(
            "Unknown placeholder%(s)s %(names)s. Valid placeholders: %(valid)s.",
            params={"s": "s" if len(unknown) > 1 else "", "names": names, "valid": valid_list()},
            code="unknown_placeholder",
        )


def render(text: str, values: Mapping[str, str]) -> str:
    """Fill each `{name}` with `values[name]`; an unknown name (a template saved before a
    placeholder was retired) renders empty rather than leaking the braces to a guest."""

    def replace(match: re.Match) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        return str(values.get(match.group(1), ""))

    return _TOKEN.sub(replace, text or "")


def one_line(text: str) -> str:
    """A subject is one header line: no value may break it into two."""
    return " ".join(text.split())
