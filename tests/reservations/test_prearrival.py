"""Before the guest arrives: pre-arrival checks of every lock, alerts, one email, backup
codes. Against Seam's fake (moved through its control endpoint), the clock moved by
time-machine, and the email through a real SMTP server listening in the test."""

import datetime
import socket
import zoneinfo

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.core.exceptions import ValidationError
from django.urls import reverse

from locks.models import Device, LockAssignment
from reservations import services
from reservations.models import DeviceAlert, LockAccess, LockAccessLog, Reservation
from reservations.prearrival import (
    FAILED,
    PASSED,
    TOO_FRESH,
    backup_code_share,
    prearrival_run_due,
)
from tests.fixtures_lifecycle import run_at

NY = zoneinfo.ZoneInfo("America/New_York")
UTC = datetime.UTC
State = LockAccess.State
# The US moves to daylight-saving time on Sunday 2027-03-14 at 02:00.
BOOKED_AT = datetime.datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
MONDAY_CHECK_IN = datetime.datetime(2027, 3, 15, 15, 0, tzinfo=NY)


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 Message accepted"


@pytest.fixture
def smtp(settings):
    """A real SMTP server on a free loopback port; Django sends through it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.KEYSTAY_PUBLIC_URL = "https://keystay.example.com"
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def ny(wired):
    """The wired listing in New York; codes go on the locks three days ahead."""
    prop = wired.listing.property
    prop.time_zone = "America/New_York"
    prop.save()
    wired.listing.code_lead_time_minutes = 3 * 24 * 60
    wired.listing.save()
    return wired


def book(wired, check_in=MONDAY_CHECK_IN, nights=3):
    with time_machine.travel(BOOKED_AT, tick=False):
        reservation = services.reservation_create(
            listing=wired.listing,
            guest_name="Maria Silva",
            guest_phone="+351 912 345 678",
            check_in=check_in,
            check_out=check_in + datetime.timedelta(days=nights, hours=-4),
            status=Reservation.Status.CONFIRMED,
        )
    # Read back in UTC: arithmetic on an aware instant in New York would be wall-clock.
    return Reservation.objects.get(pk=reservation.pk)


def program(wired, reservation):
    """Carry out the codes' programming instant: the codes reach the fake."""
    program_at = min(a.program_at for a in reservation.lock_accesses.all())
    run_at(program_at)
    return program_at


def check_at(instant):
    with time_machine.travel(instant, tick=False):
        return prearrival_run_due()


def access_on(reservation, device) -> LockAccess:
    return LockAccess.objects.get(reservation=reservation, device=device)


def fail_on_lock(wired, reservation, device):
    code = access_on(reservation, device).provider_id
    wired.fake.control(
        "/access_codes/add_error", access_code_id=code, error_code="failed_to_set_on_device"
    )
    return code


# --------------------------------------------------------------------------- (a) when


@pytest.mark.parametrize(
    ("check_in", "expected_local"),
    [
        # Monday after the change: both instants are in EDT, 24 h is the same wall time.
        (MONDAY_CHECK_IN, datetime.datetime(2027, 3, 14, 15, 0, tzinfo=NY)),
        # Sunday of the change: 24 elapsed hours earlier is 14:00 EST on the Saturday
        # (the wall clock jumped an hour in between).
        (
            datetime.datetime(2027, 3, 14, 15, 0, tzinfo=NY),
            datetime.datetime(2027, 3, 13, 14, 0, tzinfo=NY),
        ),
    ],
)
def test_the_24_hour_check_is_24_elapsed_hours_before_check_in(ny, check_in, expected_local):
    reservation = book(ny, check_in=check_in)
    reservation.refresh_from_db()
    assert reservation.prearrival_check_at == expected_local
    elapsed = reservation.check_in.astimezone(UTC) - reservation.prearrival_check_at
    assert elapsed == datetime.timedelta(hours=24)
    if check_in == MONDAY_CHECK_IN:
        assert reservation.prearrival_check_at == datetime.datetime(2027, 3, 14, 19, tzinfo=UTC)
        assert reservation.prearrival_check_at.astimezone(NY).strftime("%a %H:%M %Z") == (
            "Sun 15:00 EDT"
        )
    program(ny, reservation)
    ny.lock_reports_set(at=reservation.prearrival_check_at - datetime.timedelta(hours=5))

    # Not a second early; at the instant, it runs and schedules the 2 h check.
    assert check_at(reservation.prearrival_check_at - datetime.timedelta(seconds=1)) == 0
    assert check_at(reservation.prearrival_check_at) == 1
    reservation.refresh_from_db()
    assert reservation.prearrival_check_at == check_in - datetime.timedelta(hours=2)


def test_new_dates_move_the_next_check(ny):
    reservation = book(ny)
    with time_machine.travel(BOOKED_AT, tick=False):
        services.reservation_update(
            reservation=reservation,
            check_in=MONDAY_CHECK_IN + datetime.timedelta(days=2),
            check_out=MONDAY_CHECK_IN + datetime.timedelta(days=4),
        )
    reservation.refresh_from_db()
    assert reservation.prearrival_check_at == datetime.datetime(2027, 3, 16, 19, tzinfo=UTC)


def test_a_listing_sets_its_own_check_hours(ny):
    ny.listing.prearrival_check_hours = "48, 6"
    ny.listing.full_clean()
    ny.listing.save()
    reservation = book(ny)
    assert ny.listing.prearrival_hours == [48, 6]
    reservation.refresh_from_db()
    assert reservation.prearrival_check_at == MONDAY_CHECK_IN.astimezone(UTC) - (
        datetime.timedelta(hours=48)
    )
    # Saturday 14:00 EST: 48 elapsed hours across the change, not the same wall time.
    assert reservation.prearrival_check_at.astimezone(NY).strftime("%a %H:%M %Z") == (
        "Sat 14:00 EST"
    )


def test_the_listing_page_sets_the_hours_and_the_stays_next_check_follows(ny, client):
    reservation = book(ny)
    manager = ny.listing.organization.memberships.get(role="manager").user
    client.force_login(manager)
    url = reverse("admin:properties_listing_change", args=[ny.listing.pk])
    page = client.get(url).context["adminform"].form
    data = {name: value for name, value in page.initial.items() if value is not None}
    data.update(
        {
            "property": ny.listing.property_id,
            "prearrival_check_hours": "12",
            "assignments-TOTAL_FORMS": "0",
            "assignments-INITIAL_FORMS": str(ny.listing.assignments.count()),
            "assignments-MIN_NUM_FORMS": "0",
            "assignments-MAX_NUM_FORMS": "1000",
        }
    )
    data["active"] = "on"
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    reservation.refresh_from_db()
    assert reservation.prearrival_check_at == MONDAY_CHECK_IN - datetime.timedelta(hours=12)
    bad = client.post(url, {**data, "prearrival_check_hours": "abc"})
    assert bad.status_code == 200 and "prearrival_check_hours" in (
        bad.context["adminform"].form.errors
    )


@pytest.mark.parametrize("bad", ["0", "169", "2.5", "24,x", "-1"])
def test_check_hours_are_whole_hours_from_1_to_168(ny, bad):
    ny.listing.prearrival_check_hours = bad
    with pytest.raises(ValidationError):
        ny.listing.full_clean()


# -------------------------------------------------------- (b) a failed lock is raised


def test_a_failed_lock_is_retried_raised_and_emailed_once(ny, smtp, org_a):
    reservation = book(ny)
    program(ny, reservation)
    first = reservation.check_in - datetime.timedelta(hours=24)
    ny.lock_reports_set(ny.gate, at=first - datetime.timedelta(hours=1))
    fail_on_lock(ny, reservation, ny.side)

    assert check_at(first) == 1

    side = access_on(reservation, ny.side)
    # Retried at once: due now, its provider start cleared so that an update is sent.
    assert side.due_at == first
    assert side.provider_starts_at is None
    assert side.logs.filter(kind=LockAccessLog.Kind.NOT_CONFIRMED).count() == 1
    alert = DeviceAlert.objects.get(kind=DeviceAlert.Kind.PREARRIVAL_FAILED)
    assert (alert.reservation_id, alert.device_id, alert.resolved_at) == (
        reservation.pk,
        ny.side.pk,
        None,
    )
    assert not DeviceAlert.objects.filter(device=ny.gate).exists()  # the gate confirmed

    # One email to the managers (not the staff), through the SMTP server.
    assert len(smtp.messages) == 1
    envelope = smtp.messages[0]
    assert envelope.rcpt_tos == [org_a.manager.email]
    body = envelope.content.decode()
    assert "Maria Silva" in body
    assert str(ny.listing) in body
    assert "Side Door" in body
    assert "Monday 2027-03-15 15:00 EDT" in body
    assert f"https://keystay.example.com/admin/reservations/reservation/{reservation.pk}/" in (
        body
    )

    # The worker sends the code again to the fake: an update, recorded when it returned.
    assert run_at(first) >= 1
    side.refresh_from_db()
    assert side.programmed_at == first
    assert side.state == State.REQUESTED
    assert side.logs.filter(kind=LockAccessLog.Kind.REQUESTED, at=first).exists()
    reservation.refresh_from_db()
    assert reservation.prearrival_check_at == reservation.check_in - datetime.timedelta(hours=2)

    # The 2 h check finds the same problem: retried again, no second alert nor email.
    second = reservation.prearrival_check_at
    assert check_at(second) == 1
    assert DeviceAlert.objects.filter(kind=DeviceAlert.Kind.PREARRIVAL_FAILED).count() == 1
    assert len(smtp.messages) == 1
    assert access_on(reservation, ny.side).due_at == second
    reservation.refresh_from_db()
    assert reservation.prearrival_check_at is None  # the last check ran

    # The lock takes the code at last: the alert is resolved.
    code_id = access_on(reservation, ny.side).provider_id
    ny.fake.control("/access_codes/clear_errors", access_code_id=code_id)
    run_at(second)
    ny.lock_reports_set(ny.side, at=second + datetime.timedelta(minutes=5))
    alert.refresh_from_db()
    assert alert.resolved_at is not None


# ------------------------------------------------------------------- (c) backup codes


def test_a_backup_code_is_pulled_where_the_lock_uses_the_pool(ny, smtp, org_a, client):
    pool_lock = Device.objects.get(connection=ny.connection, provider_device_id="august_device_1")
    assert pool_lock.supports_backup_access_code_pool  # from the provider's properties
    pool_lock.use_backup_pool = True
    pool_lock.full_clean()
    pool_lock.save()
    LockAssignment.objects.filter(listing=ny.listing).update(guest_access=False)
    LockAssignment.objects.create(listing=ny.listing, device=pool_lock, guest_access=True)
    reservation = book(ny)
    program(ny, reservation)
    access = access_on(reservation, pool_lock)
    # Created with the pool: the fake keeps a backup code on the lock beside the guest's.
    # (The fake's debug dump names them; its list, like Seam's, leaves them out.)
    spare = [
        c
        for c in ny.fake.state()["access_codes"]
        if c["device_id"] == "august_device_1" and c["access_code_id"] != access.provider_id
    ]
    assert len(spare) == 1
    assert [c.access_code_id for c in ny.codes_on(pool_lock)] == [access.provider_id]
    fail_on_lock(ny, reservation, pool_lock)

    first = reservation.check_in - datetime.timedelta(hours=24)
    check_at(first)

    access.refresh_from_db()
    backup = spare[0]
    assert access.backup_provider_id == backup["access_code_id"]
    assert access.backup_code == backup["code"]
    assert access.backup_code_ciphertext != backup["code"]  # stored encrypted
    assert access.backup_ends_at == access.ends_at  # never beyond the stay
    assert access.backup_pulled_at == first
    assert access.logs.filter(kind=LockAccessLog.Kind.BACKUP_PULLED).exists()
    assert "backup code is ready" in smtp.messages[0].content.decode()

    # The 2 h check keeps the same backup code (this stay's own).
    check_at(reservation.check_in - datetime.timedelta(hours=2))
    access.refresh_from_db()
    assert access.backup_provider_id == backup["access_code_id"]
    assert access.logs.filter(kind=LockAccessLog.Kind.BACKUP_PULLED).count() == 1

    # Staff see it on the reservation page and share it: when and who, on its history.
    page = reverse("admin:reservations_reservation_change", args=[reservation.pk])
    shared_at = reservation.check_in - datetime.timedelta(hours=1)
    with time_machine.travel(shared_at, tick=False):
        client.force_login(org_a.staff)  # a session of that time
        html = client.get(page).content.decode()
        assert "Backup code ready" in html and backup["code"] in html
        share = reverse(
            "admin:reservations_reservation_share_backup", args=[reservation.pk, access.pk]
        )
        assert client.post(share).status_code == 302
    entry = access.logs.get(kind=LockAccessLog.Kind.BACKUP_SHARED)
    assert entry.at == shared_at
    assert org_a.staff.username in entry.detail
    access.refresh_from_db()
    assert access.backup_shared_at == shared_at

    # Never beyond the stay: once its window is over it cannot be shared.
    with pytest.raises(ValidationError):
        backup_code_share(access=access, shared_by=org_a.staff, now=access.ends_at)


def test_the_pool_is_only_for_locks_that_support_it(ny):
    ny.gate.use_backup_pool = True
    with pytest.raises(ValidationError):
        ny.gate.full_clean()


# -------------------------------------------------------------------- (d) healthy stay


def test_a_healthy_stay_raises_nothing_and_sends_nothing(ny, smtp):
    reservation = book(ny)
    program(ny, reservation)
    first = reservation.check_in - datetime.timedelta(hours=24)
    ny.lock_reports_set(at=first - datetime.timedelta(hours=1))

    check_at(first)
    check_at(reservation.check_in - datetime.timedelta(hours=2))

    assert not DeviceAlert.objects.filter(kind=DeviceAlert.Kind.PREARRIVAL_FAILED).exists()
    assert smtp.messages == []
    assert not LockAccessLog.objects.filter(kind=LockAccessLog.Kind.NOT_CONFIRMED).exists()
    reservation.refresh_from_db()
    assert reservation.prearrival_check_at is None


# ------------------------------------------------------------- (e) too fresh to judge


def test_a_code_one_minute_old_is_not_judged_yet(ny, smtp):
    from reservations.prearrival import prearrival_check

    ny.listing.code_lead_time_minutes = 24 * 60 + 1  # on the lock a minute before the check
    ny.listing.save()
    reservation = book(ny)
    first = reservation.check_in - datetime.timedelta(hours=24)
    assert program(ny, reservation) == first - datetime.timedelta(minutes=1)

    with time_machine.travel(first, tick=False):
        result = prearrival_check(reservation=reservation, now=first)
    assert set(result.verdicts.values()) == {TOO_FRESH}
    assert result.next_check_at == first + datetime.timedelta(minutes=15)

    check_at(first)
    reservation.refresh_from_db()
    assert reservation.prearrival_check_at == first + datetime.timedelta(minutes=15)
    assert not DeviceAlert.objects.filter(kind=DeviceAlert.Kind.PREARRIVAL_FAILED).exists()
    assert smtp.messages == []
    assert all(a.due_at != first for a in reservation.lock_accesses.all())  # nothing retried

    # 15 minutes later the codes are old enough: unconfirmed now means failed.
    with time_machine.travel(first + datetime.timedelta(minutes=15), tick=False):
        result = prearrival_check(reservation=reservation, now=timezone_now())
    assert set(result.verdicts.values()) == {FAILED}


def test_verdicts_cover_a_confirmed_lock(ny):
    from reservations.prearrival import prearrival_check

    reservation = book(ny)
    program(ny, reservation)
    first = reservation.check_in - datetime.timedelta(hours=24)
    ny.lock_reports_set(at=first - datetime.timedelta(hours=1))
    with time_machine.travel(first, tick=False):
        result = prearrival_check(reservation=reservation, now=first)
    assert set(result.verdicts.values()) == {PASSED}


def timezone_now():
    from django.utils import timezone

    return timezone.now()
