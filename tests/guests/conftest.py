"""Guest message fixtures: a real SMTP server in the test, a listing in New York wired to
Seam's fake, stays booked at a fixed instant, and a clock moved to run the sweep."""

import datetime
import zoneinfo

import pytest
import time_machine

from guests import tasks
from guests.models import GuestMessage, MessageTemplate
from locks.models import LockAssignment
from reservations import services
from reservations.models import Reservation
from tests.smtp import Inbox, free_port, smtp_server, text_of  # noqa: F401  (shared)

NY = zoneinfo.ZoneInfo("America/New_York")
UTC = datetime.UTC
BOOKED_AT = datetime.datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
# Monday 15:00 after the US moved to daylight-saving time (Sunday 2027-03-14), held in
# UTC so that arithmetic on it is elapsed time, not wall-clock time.
CHECK_IN = datetime.datetime(2027, 3, 15, 15, 0, tzinfo=NY).astimezone(UTC)
SIDE_CODE = "735942"  # Side Door's own code (its rules: 6 digits, no zero)


@pytest.fixture
def smtp(settings):
    """A real SMTP server on a free loopback port; Django's SMTP backend sends to it."""
    with smtp_server(settings) as inbox:
        settings.KEYSTAY_PUBLIC_URL = "https://keystay.example.com"
        yield inbox


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a block as if its transaction committed (the test's own never does): stay
    events reach guest messages, and what they enqueue runs (django-q2 is synchronous)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def ny(wired):
    """The wired listing (Garden Gate and Side Door take guest codes) in New York."""
    prop = wired.listing.property
    prop.time_zone = "America/New_York"
    prop.address = "12 Hudson Street, New York"
    prop.save()
    wired.listing.check_in_instructions = "Park in bay 4; the key box is by the gate."
    wired.listing.save()
    return wired


@pytest.fixture
def code_template(ny):
    """The organization's door-code template, emailed 48 hours before check-in."""
    return MessageTemplate.objects.create(
        organization=ny.listing.organization,
        kind=MessageTemplate.Kind.CODE,
        send_hours_before=48,
        subject="Your codes for {listing}, {guest_name}",
        body=(
            "Hello {guest_name},\n"
            "Check-in: {check_in}\n"
            "Check-out: {check_out}\n"
            "{doors}\n"
            "{check_in_instructions}\n"
            "Your page: {guest_link}\n"
        ),
    )


def book(wired, committed, *, at=BOOKED_AT, check_in=CHECK_IN, nights=3, **fields):
    fields.setdefault("guest_name", "Maria Silva")
    fields.setdefault("guest_email", "maria@example.com")
    fields.setdefault("guest_phone", "+351 912 345 678")
    fields.setdefault("status", Reservation.Status.CONFIRMED)
    with time_machine.travel(at, tick=False), committed():
        reservation = services.reservation_create(
            listing=wired.listing,
            check_in=check_in,
            check_out=check_in + datetime.timedelta(days=nights, hours=-4),
            **fields,
        )
    return Reservation.objects.get(pk=reservation.pk)


def side_door_own_code(wired, committed, reservation, *, at=BOOKED_AT):
    side = LockAssignment.objects.get(listing=wired.listing, device=wired.side)
    with time_machine.travel(at, tick=False), committed():
        services.override_set(reservation=reservation, assignment=side, code=SIDE_CODE)


def send_at(instant) -> int:
    """Move the clock to `instant` and run the cluster's periodic task that sends the due
    emails (the one KEYSTAY_SCHEDULES names)."""
    with time_machine.travel(instant, tick=False):
        return tasks.send_due()


def scheduled(reservation) -> GuestMessage:
    return GuestMessage.objects.get(
        reservation=reservation,
        kind=MessageTemplate.Kind.CODE,
        trigger=GuestMessage.Trigger.SCHEDULE,
    )
