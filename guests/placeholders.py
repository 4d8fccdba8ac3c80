"""The placeholders of guest message templates, and the small renderer that fills them.

A manager writes `Hello {guest_name}, your code for {listing}: {doors}`. Each `{name}` is
replaced by a value Keystay computed for the stay; nothing else is interpreted. No
template engine runs a manager's text: there is no attribute access into models, no tag,
no filter, so a template can only ever show the facts listed here. `{{` and `}}` write a
literal brace. A name that is not listed is refused when the template is saved.

Every message is bounded: each placeholder's value has a longest length (the cap of the
field it comes from, or a clip for what Keystay composes, such as the list of doors), so a
template's longest possible message is known when it is saved, and a template that could
exceed GUEST_MESSAGE_MAX_CHARS is refused then. Rendering clips each value and stops at
that limit too, so no stored data or older template can make a message, a preview or a
copy grow past it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import ValidationError

from properties.models import ADDRESS_MAX_LENGTH, CHECK_IN_INSTRUCTIONS_MAX_LENGTH, NAME_MAX_LENGTH

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
    "ready_from": (
        "When the guest's code starts working, in the property's local time (earlier "
        "when the unit was ready early)."
    ),
}

# name -> the longest text it becomes. Names and the address are their fields' caps; the
# times are a few words; the doors and the changes are clipped (the guest page has them all).
PLACEHOLDER_MAX_LENGTHS: dict[str, int] = {
    "guest_name": NAME_MAX_LENGTH,
    "organization": NAME_MAX_LENGTH,
    "listing": NAME_MAX_LENGTH,
    "property": NAME_MAX_LENGTH,
    "property_address": ADDRESS_MAX_LENGTH,
    "check_in": 120,
    "check_out": 120,
    "ready_from": 120,
    "doors": 4_000,
    "guest_link": 500,
    "check_in_instructions": CHECK_IN_INSTRUCTIONS_MAX_LENGTH,
    "changes": 4_000,
}
ELLIPSIS = "…"

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


def message_max_chars() -> int:
    """The most characters a message may hold, its subject and body together."""
    return settings.GUEST_MESSAGE_MAX_CHARS


def worst_case_length(text: str) -> int:
    """The longest `text` can render to: its literal characters plus, for each occurrence
    of a placeholder, that placeholder's longest value. Counted, not rendered."""
    text = text or ""
    length = len(text)
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        length -= len(token)
        if token in ("{{", "}}"):
            length += 1
        else:
            length += PLACEHOLDER_MAX_LENGTHS.get(match.group(1), 0)
    return length


def validate_message_size(subject: str, body: str) -> None:
    """Refuse a template whose message could exceed GUEST_MESSAGE_MAX_CHARS with the
    longest values, naming the placeholders that weigh most."""
    limit = message_max_chars()
    worst = worst_case_length(subject) + worst_case_length(body)
    if worst <= limit:
        return
    counts: dict[str, int] = {}
    for match in _TOKEN.finditer(f"{subject}\n{body}"):
        if match.group(1) in PLACEHOLDER_MAX_LENGTHS:
            counts[match.group(1)] = counts.get(match.group(1), 0) + 1
    heaviest = sorted(counts, key=lambda n: counts[n] * PLACEHOLDER_MAX_LENGTHS[n], reverse=True)
    uses = ", ".join(f"{{{name}}} ×{counts[name]}" for name in heaviest[:3])
    raise ValidationError(
        {
            "body": ValidationError(
                "With the longest values Keystay allows, this message could reach "
                "%(worst)s characters; the most is %(limit)s. Use placeholders fewer times "
                "(%(uses)s).",
                params={"worst": f"{worst:,}", "limit": f"{limit:,}", "uses": uses},
                code="message_too_long",
            )
        }
    )


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, the cut marked with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(ELLIPSIS))] + ELLIPSIS


def render(text: str, values: Mapping[str, str], *, limit: int | None = None) -> str:
    """Fill each `{name}` with `values[name]` (clipped to its longest length); an unknown
    name (a template saved before a placeholder was retired) renders empty rather than
    leaking the braces to a guest. The result holds at most `limit` characters (default
    GUEST_MESSAGE_MAX_CHARS): the pieces are joined only up to it, so an oversized template
    never builds its whole text in memory."""
    limit = message_max_chars() if limit is None else limit
    pieces: list[str] = []
    size = 0
    position = 0
    text = text or ""
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token == "{{":
            value = "{"
        elif token == "}}":
            value = "}"
        else:
            name = match.group(1)
            value = clip(str(values.get(name, "")), PLACEHOLDER_MAX_LENGTHS.get(name, 0))
        for piece in (text[position : match.start()], value):
            pieces.append(piece)
            size += len(piece)
        position = match.end()
        if size > limit:
            return clip("".join(pieces), limit)
    pieces.append(text[position:])
    return clip("".join(pieces), limit)


def render_message(subject: str, body: str, values: Mapping[str, str]) -> tuple[str, str]:
    """A message's subject (one line) and body, together within GUEST_MESSAGE_MAX_CHARS:
    the one bound every preview, copy and send goes through."""
    limit = message_max_chars()
    subject_text = one_line(render(subject, values, limit=limit))
    text = render(body, values, limit=max(0, limit - len(subject_text)))
    # Blank lines left by an empty placeholder (no instructions) collapse to one.
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    text = text.strip()
    # The body ends with one newline, within the limit.
    return subject_text, clip(text, max(0, limit - len(subject_text) - 1)) + "\n"


def one_line(text: str) -> str:
    """A subject is one header line: no value may break it into two."""
    return " ".join(text.split())
