"""`{{ value|instant:zone }}`: an instant as Keystay writes it (core.timezones), in a
property's zone (a ZoneInfo or an IANA name) or, without one, the current zone."""

import datetime
import zoneinfo

from django import template

from core.timezones import format_instant

register = template.Library()


@register.filter
def instant(value, zone=None) -> str:
    if not isinstance(value, datetime.datetime):
        return "—"
    if isinstance(zone, str):
        zone = zoneinfo.ZoneInfo(zone) if zone else None
    return format_instant(value, zone or None)
