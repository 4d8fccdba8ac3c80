"""The demo's sample calendar: an Airbnb-shaped export whose dates follow today, served by
Keystay itself under `make run` (demo mode only), so that a listing of the demo is fed by a
calendar and a newcomer sees its stays arrive by themselves."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone

DEMO_CALENDAR_PATH = "demo/calendars/airbnb.ics"

# (first night from today, nights, confirmation code, last four phone digits); None: a block
DEMO_EVENTS = [
    (2, 3, "HMDEMO2C01", "4321"),
    (8, 2, "HMDEMO2C02", "8765"),
    (12, 2, None, ""),
]


def demo_calendar_body(today: datetime.date) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "PRODID:-//Airbnb Inc//Hosting Calendar 0.8.8//EN",
        "CALSCALE:GREGORIAN",
        "VERSION:2.0",
    ]
    for first, nights, code, phone in DEMO_EVENTS:
        start = today + datetime.timedelta(days=first)
        end = start + datetime.timedelta(days=nights)
        lines += [
            "BEGIN:VEVENT",
            f"DTSTART;VALUE=DATE:{start:%Y%m%d}",
            f"DTEND;VALUE=DATE:{end:%Y%m%d}",
        ]
        if code:
            lines += [
                f"UID:demo-{code.lower()}@airbnb.com",
                "DESCRIPTION:Reservation URL: https://www.airbnb.com/hosting/reservations/"
                f"details/{code}\\nPhone Number (Last 4 Digits): {phone}",
                "SUMMARY:Reserved",
            ]
        else:
            lines += [f"UID:demo-block-{first}@airbnb.com", "SUMMARY:Airbnb (Not available)"]
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


def demo_calendar(request: HttpRequest) -> HttpResponse:
    if not getattr(settings, "DEMO_MODE", False):
        raise Http404("Demo mode only.")
    body = demo_calendar_body(timezone.localdate())
    return HttpResponse(body, content_type="text/calendar; charset=utf-8")
