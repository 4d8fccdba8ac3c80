"""Guest message fixtures: a real SMTP server in the test, a listing in New York wired to
Seam's fake, stays booked at a fixed instant, and a clock moved to run the sweep."""

import datetime
import email
import email.policy
import socket
import zoneinfo

import pytest
import time_machine
from aiosmtpd.controller import Controller

from guests import tasks
from guests.models import GuestMessage, MessageTemplate
from locks.models import LockAssignment
from reservations import services
from reservations.models import Reservation

NY = zoneinfo.ZoneInfo("America/New_York")
UTC = datetime.UTC
BOOKED_AT = datetime.datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
# Monday 15:00 after the US moved to daylight-saving time (Sunday 2027-03-14), held in
# UTC so that arithmetic on it is elapsed time, not wall-clock time.
CHECK_IN = datetime.datetime(2027, 3, 15, 15, 0, tzinfo=NY).astimezone(UTC)
SIDE_CODE = "735942"  # Side Door's own code (its rules: 6 digits, no zero)


class Inbox:
    """What the SMTP server received; `refuse` makes it answer every message with an
    error, as a mail server that will not take it."""

    def __init__(self):
        self.envelopes = []
        self.refuse = ""

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return self.refuse
        self.envelopes.append(envelope)
        return "250 Message accepted"

    @property
    def messages(self):
        return [
            email.message_from_bytes(e.content, policy=email.policy.default)
            for e in self.envelopes
        ]

    def bodies(self) -> list[str]:
        return [text_of(m) for m in self.messages]


def text_of(message) -> str:
    """The text of a received email, with the wire's CRLF line ends read as newlines."""
    return message.get_content().replace("\r\n", "\n")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp(settings):
    """A real SMTP server on a free loopback port; Django's SMTP backend sends to it."""
    port = free_port()
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    settings.KEYSTAY_PUBLIC_URL = "https://keystay.example.com"
    try:
        yield inbox
    finally:
        controller.stop()


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
