"""Django's formats for English, with Keystay's one way of writing dates and times
(core.timezones): what Django renders by itself looks like what Keystay writes."""

from core.timezones import DATE_FORMAT, DATETIME_FORMAT, TIME_FORMAT

SHORT_DATETIME_FORMAT = DATETIME_FORMAT
SHORT_DATE_FORMAT = DATE_FORMAT

__all__ = [
    "GUEST_DATETIME_FORMAT",
    "GUEST_SHORT_DATETIME_FORMAT",
    "DATETIME_FORMAT",
    "DATE_FORMAT",
    "SHORT_DATETIME_FORMAT",
    "SHORT_DATE_FORMAT",
    "TIME_FORMAT",
]

# What guests read (their page and messages, core.languages): the day and month in words,
# the clock in the property's zone. Each language's module (config/formats/<code>/) has
# its own.
GUEST_DATETIME_FORMAT = "l j F Y, H:i T"
GUEST_SHORT_DATETIME_FORMAT = "D j M, H:i T"
