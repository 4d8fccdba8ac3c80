"""Validators shared by models of several apps."""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError


def validate_single_line(value: str) -> None:
    """Names and other one-line values: no line break, tab or other control character.

    Such a value is shown in lists, written into emails ("Hello {guest_name}") and sent to
    lock providers as part of a code's name, where a line break would start a new line.
    """
    if any(unicodedata.category(character) == "Cc" for character in value or ""):
        raise ValidationError(
            "Enter one line, without line breaks, tabs or other control characters.",
            code="control_characters",
        )
