"""The languages guests are spoken to in (settings.LANGUAGES).

The staff's side (the admin, the dashboard) stays in the site's language: no locale
middleware switches it. What a guest reads — their page, their messages — is rendered
inside `translation.override(<the stay's language>)` instead. Adding a language is a
translation file (locale/<code>/LC_MESSAGES/django.po), a formats module
(config/formats/<code>/formats.py) and message templates; no code names a language.
"""

from __future__ import annotations

import datetime
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import formats, timezone

# The longest language code Django knows ("zh-hant", "sr-latn"), with room.
LANGUAGE_MAX_LENGTH = 12


def language_codes() -> list[str]:
    return [code for code, _ in settings.LANGUAGES]


def language_choices() -> list[tuple[str, str]]:
    return list(settings.LANGUAGES)


def default_language() -> str:
    """The site's language as one of settings.LANGUAGES ("en-us" -> "en")."""
    codes = language_codes()
    code = settings.LANGUAGE_CODE
    if code in codes:
        return code
    generic = code.split("-")[0]
    return generic if generic in codes else codes[0]


def validate_language(value: str) -> None:
    """Refuse a language Keystay does not speak, naming the ones it does."""
    if value and value not in language_codes():
        raise ValidationError(
            "“%(value)s” is not a language Keystay speaks to guests. Use one of: %(codes)s.",
            params={"value": value, "codes": ", ".join(language_codes())},
            code="invalid_language",
        )


def guest_format(name: str) -> str:
    """A guest-facing format (GUEST_DATETIME_FORMAT…) of the active language, falling back
    to the site language's when a language's formats module does not define it."""
    value = formats.get_format(name)
    if value == name:  # Django hands the name back when no module defines it
        value = formats.get_format(name, lang=default_language())
    return value


def local_datetime(value: datetime.datetime, zone: zoneinfo.ZoneInfo, *, short=False) -> str:
    """An instant in the property's zone, written the active language's way
    ("Montag, 15. März 2027, 15:00 EDT")."""
    name = "GUEST_SHORT_DATETIME_FORMAT" if short else "GUEST_DATETIME_FORMAT"
    return formats.date_format(timezone.localtime(value, zone), guest_format(name))


def language_field(db_field, *, blank_label: str = ""):
    """An admin form field picking one of the guests' languages (the model keeps a plain
    code, so that adding a language needs no migration)."""
    from django import forms

    choices = language_choices()
    if db_field.blank:
        choices = [("", f"— {blank_label} —" if blank_label else "—"), *choices]
    return forms.ChoiceField(
        choices=choices,
        required=not db_field.blank,
        initial=db_field.get_default(),
        label=db_field.verbose_name.capitalize(),
        help_text=db_field.help_text,
    )
