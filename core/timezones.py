"""Time zones: every instant is stored aware; a property's zone decides what "15:00" means."""

import datetime
import zoneinfo

from django.core.exceptions import ValidationError
from django.utils import dateformat, timezone

# How Keystay writes an instant, everywhere: "2026-11-30 15:25 WET", the zone named by its
# abbreviation as the clocks there say it. In Django's date-format syntax: the project's
# formats module (config/formats) makes it Django's own rendering of every date-time (admin
# lists, read-only fields, history) and templates write `|date:"DATETIME_FORMAT"`.
DATETIME_FORMAT = "Y-m-d H:i T"
DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"


def format_instant(value: datetime.datetime | None, zone: zoneinfo.ZoneInfo | None = None) -> str:
    """An instant as pages show it, in `zone` (the current time zone when None); "—" for
    none."""
    if value is None:
        return "—"
    return dateformat.format(timezone.localtime(value, zone), DATETIME_FORMAT)


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            "“%(value)s” is not an IANA time zone, such as Europe/Lisbon or America/New_York.",
            params={"value": value},
            code="invalid_time_zone",
        )


def local_instant(
    wall_clock: datetime.datetime, zone: zoneinfo.ZoneInfo
) -> datetime.datetime | None:
    """A naive wall-clock time read in `zone`; None when the clocks skip it there (the
    hour lost to a daylight-saving change)."""
    aware = wall_clock.replace(tzinfo=zone)
    round_trip = aware.astimezone(datetime.UTC).astimezone(zone)
    return aware if round_trip.replace(tzinfo=None) == wall_clock else None


# Instants outside these years are refused wherever they are typed (admin, API, filters): a
# stay in year 1 or 9999 is a typo, and the arithmetic on windows and lead times around them
# would overflow.
YEAR_MIN, YEAR_MAX = 2000, 2100
RANGE_MESSAGE = f"Use an instant between the years {YEAR_MIN} and {YEAR_MAX}."


def in_year_range(value: datetime.date) -> bool:
    return YEAR_MIN <= value.year <= YEAR_MAX


def validate_year_range(value: datetime.date) -> None:
    if not in_year_range(value):
        raise ValidationError(RANGE_MESSAGE, code="out_of_range")
