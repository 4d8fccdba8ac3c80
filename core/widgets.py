"""Form widgets shared by the admin pages."""

from __future__ import annotations

import zoneinfo
from functools import cache

from django import forms
from django.utils.html import format_html, format_html_join


@cache
def time_zone_names() -> tuple[str, ...]:
    """Every IANA zone a property may have, sorted (the same set the validator accepts)."""
    return tuple(sorted(zoneinfo.available_timezones()))


class TimeZoneInput(forms.TextInput):
    """A time zone typed with suggestions: typing "lisb" or "new_y" offers Europe/Lisbon
    and America/New_York from the browser's list of every IANA zone (the server still
    refuses anything else)."""

    def __init__(self, attrs=None):
        super().__init__({"autocomplete": "off", "spellcheck": "false", **(attrs or {})})

    def render(self, name, value, attrs=None, renderer=None):
        list_id = f"{(attrs or {}).get('id') or 'id_' + name}_choices"
        attrs = {**(attrs or {}), "list": list_id}
        options = format_html_join("", '<option value="{}">', ((z,) for z in time_zone_names()))
        return format_html(
            '{}<datalist id="{}">{}</datalist>',
            super().render(name, value, attrs, renderer),
            list_id,
            options,
        )
