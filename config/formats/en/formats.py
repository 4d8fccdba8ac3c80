"""Django's formats for English, with Keystay's one way of writing dates and times
(core.timezones): what Django renders by itself looks like what Keystay writes."""

from core.timezones import DATE_FORMAT, DATETIME_FORMAT, TIME_FORMAT

SHORT_DATETIME_FORMAT = DATETIME_FORMAT
SHORT_DATE_FORMAT = DATE_FORMAT

__all__ = [
    "DATETIME_FORMAT",
    "DATE_FORMAT",
    "SHORT_DATETIME_FORMAT",
    "SHORT_DATE_FORMAT",
    "TIME_FORMAT",
]
