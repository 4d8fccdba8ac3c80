"""What `reservations` tells the apps above about a stay's code (reservations.signals):
each event once, after the change commits, never for a change rolled back."""

import datetime

import pytest
from django.db import transaction
from django.utils import timezone

from locks.models import LockAssignment
from reservations import services, signals
from reservations.events import events_reconcile
from reservations.models import LockAccess, Reservation
from tests.fixtures_lifecycle import run_at

pytestmark = pytest.mark.django_db

MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture
def heard():
    """The events sent while a test runs, as (event, reservation id, lock access id)."""
    got: list[tuple[str, int, int | None]] = []

    def receiver(sender, event, reservation_id, lock_access_id, at, **kwargs):
        got.append((event, reservation_id, lock_access_id))

    signals.stay_event.connect(receiver, dispatch_uid="tests.heard")
    yield got
    signals.stay_event.disconnect(dispatch_uid="tests.heard")


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a block as if its transaction committed (the test's own never does)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def events(heard, *names):
    return [e for e in heard if not names or e[0] in names]


def test_confirming_a_stay_announces_its_new_code_once(wired, heard, committed):
    with committed():
        reservation = wired.book(status=Reservation.Status.PENDING)
    assert events(heard) == []
    with committed():
        services.reservation_confirm(reservation=reservation)
    assert events(heard) == [(signals.CODE_GENERATED, reservation.pk, None)]


def test_new_dates_a_rotated_code_and_an_override_each_announce_a_changed_code(
    wired, heard, committed
):
    reservation = wired.book()
    with committed():
        services.reservation_update(
            reservation=reservation, check_out=reservation.check_out + datetime.timedelta(days=1)
        )
    assert events(heard) == [(signals.CODE_CHANGED, reservation.pk, None)]
    with committed():
        services.code_rotate(reservation=reservation)
    assert len(events(heard, signals.CODE_CHANGED)) == 2
    gate = LockAssignment.objects.get(listing=wired.listing, device=wired.gate)
    with committed():
        services.override_set(reservation=reservation, assignment=gate, code="4829")
    assert len(events(heard, signals.CODE_CHANGED)) == 3
    # Saving it unchanged tells nobody anything.
    with committed():
        services.reservation_save(reservation=Reservation.objects.get(pk=reservation.pk))
    assert len(events(heard)) == 3


def test_cancelling_announces_the_code_revoked(wired, heard, committed):
    reservation = wired.book()
    with committed():
        services.reservation_cancel(reservation=reservation)
    assert events(heard) == [(signals.CODE_REVOKED, reservation.pk, None)]


def test_a_change_rolled_back_is_never_announced(wired, heard, committed):
    reservation = wired.book()
    with committed(), pytest.raises(RuntimeError), transaction.atomic():
        services.reservation_cancel(reservation=reservation)
        raise RuntimeError("the caller's transaction fails")
    assert events(heard) == []


def test_a_lock_confirming_or_failing_the_code_is_announced_with_its_lock(wired, heard, committed):
    reservation = wired.book(days_ahead=0, nights=2)
    run_at(timezone.now())
    side = LockAccess.objects.get(reservation=reservation, device=wired.side)
    gate = LockAccess.objects.get(reservation=reservation, device=wired.gate)
    wired.fake.control(
        "/access_codes/add_error",
        access_code_id=side.provider_id,
        error_code="failed_to_set_on_device",
    )
    with committed():
        events_reconcile(connection=wired.connection)
    assert events(heard) == [(signals.LOCK_FAILED, reservation.pk, side.pk)]
    with committed():
        wired.lock_reports_set(wired.gate)
    assert events(heard, signals.LOCK_CONFIRMED) == [
        (signals.LOCK_CONFIRMED, reservation.pk, gate.pk)
    ]
    with committed():
        wired.lock_reports_set(wired.gate)  # read again: nothing new
    assert len(events(heard, signals.LOCK_CONFIRMED)) == 1


def test_the_guests_first_unlock_is_announced_once(wired, heard, committed):
    reservation = wired.book(days_ahead=-1, nights=3)
    run_at(timezone.now())
    code_id = LockAccess.objects.get(reservation=reservation, device=wired.side).provider_id
    for _ in range(2):
        wired.fake.control(
            "/events/add",
            event_type="lock.unlocked",
            device_id=wired.side.provider_device_id,
            access_code_id=code_id,
            method="keycode",
        )
        with committed():
            events_reconcile(connection=wired.connection)
    assert events(heard, signals.ARRIVED) == [(signals.ARRIVED, reservation.pk, None)]
