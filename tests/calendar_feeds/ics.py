"""Calendars shaped like the channels' exports (their PRODID, summaries and descriptions)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass


@dataclass
class Ev:
    start: datetime.date
    end: datetime.date
    summary: str
    uid: str
    description: str = ""


def _lines(prodid: str, events: list[Ev], extra: list[str] | None = None) -> str:
    lines = ["BEGIN:VCALENDAR", f"PRODID:{prodid}", "CALSCALE:GREGORIAN", "VERSION:2.0"]
    lines += extra or []
    for ev in events:
        lines += [
            "BEGIN:VEVENT",
            "DTSTAMP:20260101T000000Z",
            f"DTSTART;VALUE=DATE:{ev.start:%Y%m%d}",
            f"DTEND;VALUE=DATE:{ev.end:%Y%m%d}",
            f"UID:{ev.uid}",
        ]
        if ev.description:
            lines.append(f"DESCRIPTION:{ev.description}")
        lines += [f"SUMMARY:{ev.summary}", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


def airbnb_booking(start, end, *, code: str, phone: str = "", uid: str = "") -> Ev:
    description = f"Reservation URL: https://www.airbnb.com/hosting/reservations/details/{code}"
    if phone:
        description += f"\\nPhone Number (Last 4 Digits): {phone}"
    return Ev(
        start, end, "Reserved", uid or f"1418fb94e984-{code.lower()}@airbnb.com", description
    )


def airbnb_block(start, end, *, uid: str) -> Ev:
    return Ev(start, end, "Airbnb (Not available)", uid)


def airbnb(*events: Ev) -> str:
    return _lines("-//Airbnb Inc//Hosting Calendar 0.8.8//EN", list(events))


def vrbo_booking(start, end, *, uid: str, name: str = "Maria") -> Ev:
    return Ev(start, end, f"Reserved - {name}", uid)


def vrbo_block(start, end, *, uid: str) -> Ev:
    return Ev(start, end, "Blocked", uid)


def vrbo(*events: Ev) -> str:
    return _lines("-//HomeAway.com, Inc.//EN", list(events))


def booking_closed(start, end, *, uid: str) -> Ev:
    return Ev(start, end, "CLOSED - Not available", uid)


def booking(*events: Ev) -> str:
    return _lines("-//Booking.com//Booking.com Calendar//EN", list(events))
