"""Reading a channel's iCal export into plain events (with the `icalendar` library).

Rental calendars mark days: an all-day `DATE` range ends the day before its `DTEND` (the
end is exclusive, the guest's check-out day). A `DATE-TIME` (with a TZID, in UTC, or
floating) is read as the day it falls on in the property's time zone. What the guest's
times are on those days is the listing's business (its check-in and check-out times).
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass

import icalendar


class NotACalendar(ValueError):
    """The answer is not an iCalendar (an HTML page, a login form, garbage)."""


@dataclass(frozen=True)
class FeedItem:
    uid: str
    summary: str
    description: str
    starts_on: datetime.date
    ends_on: datetime.date  # exclusive: the check-out day
    # From Airbnb's description: the reservation's confirmation code, and the last four
    # digits of the guest's phone.
    confirmation_code: str = ""
    phone_last_digits: str = ""


@dataclass(frozen=True)
class Parsed:
    identity: str  # PRODID and X-WR-CALNAME: which calendar this is
    items: list[FeedItem]


# "https://www.airbnb.com/hosting/reservations/details/HMABCDEF12"
_RESERVATION_URL = re.compile(r"/reservations/(?:details/)?([A-Z0-9]{6,20})\b")
# "Phone Number (Last 4 Digits): 1234"
_PHONE_DIGITS = re.compile(r"Last\s*4\s*Digits\)?\s*:\s*(\d{4})\b", re.IGNORECASE)


def _day(value, zone: zoneinfo.ZoneInfo) -> datetime.date:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:  # floating: the wall clock where the property is
            return value.date()
        return value.astimezone(zone).date()
    if isinstance(value, datetime.date):
        return value
    raise ValueError("not a date")


def _text(component, name: str) -> str:
    value = component.get(name)
    return "" if value is None else str(value).strip()


def looks_like_calendar(body: bytes) -> bool:
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:64].upper()
    return head.startswith(b"BEGIN:VCALENDAR")


def parse(body: bytes, *, zone: zoneinfo.ZoneInfo) -> Parsed:
    """Every event of the calendar `body`; NotACalendar when it is not one.

    Events without a start or with an end not after their start are skipped (a channel's
    quirk is never worth failing the whole feed).
    """
    if not looks_like_calendar(body):
        raise NotACalendar("The answer is not an iCalendar (an HTML page or an error?).")
    try:
        calendar = icalendar.Calendar.from_ical(body)
    except Exception as error:  # the library's errors on garbage are not all ValueErrors
        raise NotACalendar(f"The calendar cannot be read: {str(error)[:120]}") from None
    identity = f"{_text(calendar, 'PRODID')}|{_text(calendar, 'X-WR-CALNAME')}"[:300]
    return Parsed(identity=identity, items=list(_items(calendar, zone)))


def _items(calendar, zone: zoneinfo.ZoneInfo) -> Iterator[FeedItem]:
    for event in calendar.walk("VEVENT"):
        start = event.get("DTSTART")
        if start is None:
            continue
        try:
            starts_on = _day(start.dt, zone)
            end = event.get("DTEND")
            if end is not None:
                ends_on = _day(end.dt, zone)
            elif event.get("DURATION") is not None:
                ends_on = _day(start.dt + event.get("DURATION").dt, zone)
            else:
                ends_on = starts_on + datetime.timedelta(days=1)
        except (ValueError, TypeError, OverflowError):
            continue
        if ends_on <= starts_on:
            continue
        summary = _text(event, "SUMMARY")[:200]
        description = _text(event, "DESCRIPTION")[:2000]
        uid = _text(event, "UID")[:255] or f"{starts_on}/{ends_on}/{summary}"[:255]
        code = _RESERVATION_URL.search(description)
        phone = _PHONE_DIGITS.search(description)
        yield FeedItem(
            uid=uid,
            summary=summary,
            description=description,
            starts_on=starts_on,
            ends_on=ends_on,
            confirmation_code=code.group(1) if code else "",
            phone_last_digits=phone.group(1) if phone else "",
        )
