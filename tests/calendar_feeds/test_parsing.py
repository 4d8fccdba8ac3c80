"""Reading channels' calendars: days end-exclusive, times converted to the property's zone,
Airbnb's confirmation code and phone digits, and which summaries are stays."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest

from calendar_feeds import ical, rules
from calendar_feeds.models import EventsRule

LISBON = zoneinfo.ZoneInfo("Europe/Lisbon")
TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


def _calendar(*event_lines: str) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Tests//EN", "BEGIN:VEVENT", "UID:x"]
    lines += [*event_lines, "SUMMARY:Reserved", "END:VEVENT", "END:VCALENDAR"]
    return ("\r\n".join(lines) + "\r\n").encode()


def test_all_day_dates_end_the_day_before_dtend():
    parsed = ical.parse(
        _calendar("DTSTART;VALUE=DATE:20270310", "DTEND;VALUE=DATE:20270313"), zone=LISBON
    )
    (item,) = parsed.items
    assert (item.starts_on, item.ends_on) == (
        datetime.date(2027, 3, 10),
        datetime.date(2027, 3, 13),
    )


def test_a_utc_time_is_read_as_the_day_it_falls_on_where_the_property_is():
    # 20:00 UTC on the 10th is already the 11th in Tokyo.
    body = _calendar("DTSTART:20270310T200000Z", "DTEND:20270313T020000Z")
    (item,) = ical.parse(body, zone=TOKYO).items
    assert (item.starts_on, item.ends_on) == (
        datetime.date(2027, 3, 11),
        datetime.date(2027, 3, 13),
    )
    (item,) = ical.parse(body, zone=LISBON).items
    assert (item.starts_on, item.ends_on) == (
        datetime.date(2027, 3, 10),
        datetime.date(2027, 3, 13),
    )


def test_a_time_with_a_tzid_is_converted():
    body = _calendar(
        "DTSTART;TZID=America/New_York:20270310T230000",
        "DTEND;TZID=America/New_York:20270312T100000",
    )
    (item,) = ical.parse(body, zone=LISBON).items
    # 23:00 in New York is 03:00 the next morning in Lisbon.
    assert item.starts_on == datetime.date(2027, 3, 11)


def test_airbnb_descriptions_give_the_confirmation_code_and_phone_digits():
    body = _calendar(
        "DTSTART;VALUE=DATE:20270310",
        "DTEND;VALUE=DATE:20270313",
        "DESCRIPTION:Reservation URL: https://www.airbnb.com/hosting/reservations/details/"
        "HMQ4ZX9Y2K\\nPhone Number (Last 4 Digits): 0427",
    )
    (item,) = ical.parse(body, zone=LISBON).items
    assert (item.confirmation_code, item.phone_last_digits) == ("HMQ4ZX9Y2K", "0427")


@pytest.mark.parametrize(
    "body",
    [b"<!DOCTYPE html><html></html>", b"", b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n\x00garbage"],
)
def test_what_is_not_a_calendar_says_so(body):
    with pytest.raises(ical.NotACalendar):
        ical.parse(body, zone=LISBON)


def _item(summary: str, code: str = "") -> ical.FeedItem:
    day = datetime.date(2027, 3, 10)
    return ical.FeedItem(
        uid="u",
        summary=summary,
        description="",
        starts_on=day,
        ends_on=day + datetime.timedelta(days=2),
        confirmation_code=code,
    )


@pytest.mark.parametrize(
    ("channel", "summary", "rule", "stay"),
    [
        ("airbnb", "Reserved", EventsRule.CHANNEL, True),
        ("airbnb", "Airbnb (Not available)", EventsRule.CHANNEL, False),
        ("airbnb", "Airbnb (Not available)", EventsRule.STAYS, False),  # a block stays one
        ("vrbo", "Reserved - Maria", EventsRule.CHANNEL, True),
        ("vrbo", "Blocked", EventsRule.CHANNEL, False),
        ("booking", "CLOSED - Not available", EventsRule.CHANNEL, True),
        ("booking", "CLOSED - Not available", EventsRule.BOOKINGS_ONLY, False),
        ("other", "Owner stay", EventsRule.CHANNEL, False),
        ("other", "Maria Silva", EventsRule.CHANNEL, True),
        ("other", "Maria Silva", EventsRule.BOOKINGS_ONLY, False),
    ],
)
def test_each_channels_table_says_which_events_are_stays(channel, summary, rule, stay):
    assert rules.is_stay(channel, rule, _item(summary)) is stay


def test_an_airbnb_event_with_a_reservation_link_is_a_stay_whatever_its_summary():
    assert rules.is_stay("airbnb", EventsRule.CHANNEL, _item("Maria S", code="HMABC12345"))
