"""Door truth: what each lock really holds is read back from the provider, never assumed.

Seam's fake never changes a code's status by itself and sends no webhooks: the tests move
it along through the launcher's control endpoint (a code set or failed, deleted or changed
in the lock's app, a 429 for one lock), then let Keystay read it back (the events
reconcile, the per-lock reconcile) as the cluster would.
"""

import datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from locks import pacing
from reservations import readback, services
from reservations.events import events_reconcile
from reservations.models import DeviceAlert, LockAccess, LockAccessLog
from reservations.selectors import accesses_failing
from tests.fixtures_lifecycle import run_at

pytestmark = pytest.mark.django_db

State = LockAccess.State
Log = LockAccessLog.Kind
MINUTE = datetime.timedelta(minutes=1)


def access_on(reservation, device) -> LockAccess:
    return LockAccess.objects.get(reservation=reservation, device=device)


def in_stay(wired, **booking):
    """A stay under way whose code was put on both guest locks just now."""
    reservation = wired.book(days_ahead=-1, nights=3, **booking)
    run_at(timezone.now())
    for device in (wired.gate, wired.side):
        assert access_on(reservation, device).state == State.REQUESTED
    return reservation


def history(access) -> list[str]:
    return list(access.logs.order_by("at", "pk").values_list("kind", flat=True))


def test_a_code_the_lock_reports_set_is_confirmed_with_its_time(wired):
    reservation = in_stay(wired)
    gate = access_on(reservation, wired.gate)
    wired.fake.control("/access_codes/set_state", access_code_id=gate.provider_id, status="set")
    events_reconcile(connection=wired.connection)  # the event, as a webhook would bring it
    gate.refresh_from_db()
    assert gate.state == State.CONFIRMED and gate.confirmed_at is not None
    assert gate.current_state() == State.ACTIVE
    assert access_on(reservation, wired.side).state == State.REQUESTED  # not reported yet
    assert history(gate) == [Log.REQUESTED, Log.CONFIRMED]


def test_a_code_the_lock_failed_to_set_shows_failed_is_retried_and_raised(wired):
    reservation = in_stay(wired)
    gate = access_on(reservation, wired.gate)
    wired.fake.control(
        "/access_codes/add_error",
        access_code_id=gate.provider_id,
        error_code="failed_to_set_on_device",
    )
    events_reconcile(connection=wired.connection)
    gate.refresh_from_db()
    assert gate.state == State.FAILED  # never "on the lock" after the lock said no
    assert "did not accept" in gate.last_error
    assert gate in accesses_failing(user=wired.listing.organization.memberships.first().user)
    assert DeviceAlert.objects.filter(
        device=wired.gate, kind=DeviceAlert.Kind.CODE_FAILED, resolved_at__isnull=True
    ).exists()
    # Retried with backoff: the code is sent again, and the lock may take it this time.
    retry_at = gate.due_at
    assert retry_at > timezone.now()
    run_at(retry_at + datetime.timedelta(seconds=1))
    gate.refresh_from_db()
    assert gate.state == State.REQUESTED
    assert history(gate)[-2:] == [Log.FAILED, Log.REQUESTED]


def test_a_code_deleted_at_the_provider_is_recreated_by_the_next_reconcile(wired):
    reservation = in_stay(wired)
    gate, side = access_on(reservation, wired.gate), access_on(reservation, wired.side)
    side_code = side.provider_id
    wired.seam.access_codes.delete(access_code_id=gate.provider_id)
    assert wired.codes_on(wired.gate) == []

    assert "re-created" in readback.lock_reconcile_by_id(wired.gate.pk)
    run_at(timezone.now())  # the worker puts it back

    (back,) = wired.codes_on(wired.gate)
    assert back.code == reservation.code.value
    gate.refresh_from_db()
    assert gate.provider_id == back.access_code_id and gate.state == State.REQUESTED
    assert Log.MISSING in history(gate) and Log.RECREATED in history(gate)
    # The old id stays in the history: a late unlock event still finds its guest.
    assert gate.logs.filter(kind=Log.MISSING).exclude(provider_id="").exists()
    assert [c.access_code_id for c in wired.codes_on(wired.side)] == [side_code]  # untouched


def test_a_lock_in_step_with_keystay_makes_two_calls_and_changes_nothing(wired):
    reservation = in_stay(wired)
    with wired.seam_gateway() as gateway:
        result = readback.lock_reconcile(device=wired.gate, gateway=gateway)
    assert result.calls == 2 and not result.findings  # one managed, one unmanaged list
    assert access_on(reservation, wired.gate).state == State.REQUESTED


def test_a_pass_where_nothing_drifted_writes_nothing(wired):
    # A lock whose codes are as Keystay planned them (confirmed, and a code made in the
    # lock's app, imported already): its read-back is two lists, no write to the lock and
    # no change to any stay's code; only the lock's own bookkeeping (its lease, when it
    # was read, when its app's codes were last seen) is written.
    reservation = in_stay(wired)
    wired.seam.access_codes.simulate.create_unmanaged_access_code(
        device_id=wired.side.provider_device_id, code="852741", name="Cleaner Ana"
    )
    wired.lock_reports_set(wired.side)
    side = access_on(reservation, wired.side)
    assert side.state == State.CONFIRMED
    logs = LockAccessLog.objects.count()
    wired.fake.requests(clear=True)

    with wired.seam_gateway() as gateway, CaptureQueriesContext(connection) as queries:
        result = readback.lock_reconcile(device=wired.side, gateway=gateway)

    assert result.calls == 2 and not result.findings
    assert wired.fake.requests() == {"/access_codes/list": 1, "/access_codes/unmanaged/list": 1}
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    assert writes and all(
        '"locks_device"' in sql or '"locks_unmanagedcode"' in sql for sql in writes
    ), writes
    assert access_on(reservation, wired.side).updated_at == side.updated_at
    assert LockAccessLog.objects.count() == logs


def test_a_keystay_code_left_on_a_lock_after_its_stay_is_removed(wired):
    reservation = in_stay(wired)
    gate = access_on(reservation, wired.gate)
    services.reservation_end_stay(reservation=reservation)
    run_at(timezone.now())
    gate.refresh_from_db()
    assert gate.state == State.REMOVED and wired.codes_on(wired.gate) == []
    # A create whose answer was lost, long ago: Keystay's name, no stay wants it now.
    wired.seam.access_codes.create(
        device_id=wired.gate.provider_device_id,
        code="482915",
        name=f"KS{reservation.pk}-{wired.gate.pk} Maria Silva",
    )
    assert "1 removed" in readback.lock_reconcile_by_id(wired.gate.pk)
    assert wired.codes_on(wired.gate) == []
    assert Log.STRAY_REMOVED in history(gate)


def test_codes_not_proven_keystays_are_never_touched(wired):
    in_stay(wired)
    owners = wired.seam.access_codes.create(
        device_id=wired.gate.provider_device_id, code="739146", name="Owner"
    )
    unmanaged = wired.seam.access_codes.simulate.create_unmanaged_access_code(
        device_id=wired.side.provider_device_id, code="852741", name="Cleaner Ana"
    )
    readback.lock_reconcile_by_id(wired.gate.pk)
    readback.lock_reconcile_by_id(wired.side.pk)
    assert owners.access_code_id in [c.access_code_id for c in wired.codes_on(wired.gate)]
    listed = wired.seam.access_codes.unmanaged.list(device_id=wired.side.provider_device_id)
    assert unmanaged.access_code_id in [c.access_code_id for c in listed]


def test_a_code_changed_in_the_lock_app_is_left_to_the_provider_then_restored(wired):
    reservation = in_stay(wired)
    gate = access_on(reservation, wired.gate)
    wired.fake.modify_external(gate.provider_id, "111999")
    readback.lock_reconcile_by_id(wired.gate.pk)
    gate.refresh_from_db()
    assert gate.drift_seen_at is not None  # Seam restores managed codes itself: wait
    assert [c.code for c in wired.codes_on(wired.gate)] == ["111999"]

    later = timezone.now() + datetime.timedelta(minutes=11)
    with time_machine.travel(later, tick=False):
        assert "restored" in readback.lock_reconcile_by_id(wired.gate.pk)
    run_at(later)
    assert [c.code for c in wired.codes_on(wired.gate)] == [reservation.code.value]
    assert history(access_on(reservation, wired.gate))[-3:] == [
        Log.CHANGED,
        Log.RESTORED,
        Log.REQUESTED,
    ]


def test_a_duplicate_before_the_guest_has_the_code_moves_every_lock_to_a_new_code(wired):
    reservation = wired.book(days_ahead=3)
    old = reservation.code.value
    wired.seam.access_codes.create(device_id=wired.gate.provider_device_id, code=old, name="X")
    gate = access_on(reservation, wired.gate)
    run_at(gate.program_at + MINUTE)  # the gate refuses it; the stay gets a new code
    run_at(gate.program_at + 2 * MINUTE)  # which goes on every lock
    reservation.refresh_from_db()
    new = reservation.code.value
    assert new != old
    for device in (wired.gate, wired.side):
        assert new in [c.code for c in wired.codes_on(device)]
        assert access_on(reservation, device).state == State.REQUESTED
    assert old not in [c.code for c in wired.codes_on(wired.side)]
    assert Log.DUPLICATE in history(access_on(reservation, wired.gate))


def test_a_duplicate_after_the_guest_has_the_code_keeps_it_and_raises_the_stay(wired):
    reservation = wired.book(days_ahead=3)
    services.code_mark_sent(reservation=reservation)
    code = reservation.code.value
    wired.seam.access_codes.create(device_id=wired.gate.provider_device_id, code=code, name="X")
    gate = access_on(reservation, wired.gate)
    run_at(gate.program_at + MINUTE)
    gate.refresh_from_db()
    reservation.refresh_from_db()
    assert reservation.code.value == code  # the guest's code is kept
    assert gate.state == State.FAILED and "the guest has it" in gate.last_error
    assert access_on(reservation, wired.side).state == State.REQUESTED


def test_a_lock_answering_429_backs_off_alone_while_the_others_go_on(wired):
    reservation = wired.book(days_ahead=0)
    wired.fake.rate_limit(wired.gate.provider_device_id, retry_after=120)
    now = timezone.now()
    run_at(now)
    gate, side = access_on(reservation, wired.gate), access_on(reservation, wired.side)
    assert side.state == State.REQUESTED and wired.codes_on(wired.side)
    wired.gate.refresh_from_db()
    assert wired.gate.backoff_until >= now + datetime.timedelta(seconds=110)
    assert gate.state == State.PLANNED and gate.attempts == 0  # not a failure of the code
    assert gate.due_at == wired.gate.backoff_until
    assert run_at(now + MINUTE) == 0  # the paused lock is not even tried
    wired.fake.rate_limit(wired.gate.provider_device_id, times=0)
    run_at(wired.gate.backoff_until + datetime.timedelta(seconds=1))
    assert access_on(reservation, wired.gate).state == State.REQUESTED


def test_a_removal_counts_once_the_provider_no_longer_lists_the_code(wired):
    reservation = in_stay(wired)
    services.reservation_cancel(reservation=reservation)
    run_at(timezone.now())
    gate = access_on(reservation, wired.gate)
    assert gate.state == State.REVOKED and gate.removed_at is not None
    assert history(gate)[-2:] == [Log.REMOVAL_REQUESTED, Log.REMOVED]


def test_locks_near_a_stay_are_read_every_few_minutes_the_others_hourly(wired):
    in_stay(wired)
    now = timezone.now()
    assert set(readback.locks_due_for_reconcile(now)) >= {wired.gate.pk, wired.side.pk}
    for device in (wired.gate, wired.side, wired.back):
        readback.lock_reconcile_by_id(device.pk)
    due_in_6 = readback.locks_due_for_reconcile(now + datetime.timedelta(minutes=6))
    assert wired.gate.pk in due_in_6 and wired.side.pk in due_in_6
    assert wired.back.pk not in due_in_6  # no stay there: hourly
    assert wired.back.pk in readback.locks_due_for_reconcile(now + datetime.timedelta(hours=1))


def test_the_dashboard_and_reservation_page_tell_sent_from_confirmed(wired, manager_client):
    reservation = in_stay(wired)
    page = manager_client.get(reverse("dashboard")).content.decode()
    assert "Sent, not yet confirmed by the lock (2)" in page
    assert "sent, not confirmed" in page or reservation.guest_name in page

    wired.lock_reports_set(wired.gate)
    page = manager_client.get(reverse("dashboard")).content.decode()
    assert "Sent, not yet confirmed by the lock (1)" in page

    change = reverse("admin:reservations_reservation_change", args=[reservation.pk])
    page = manager_client.get(change).content.decode()
    # The gate: confirmed and inside its window; the side door: sent, not confirmed.
    assert ">Active<" in page and ">Sent, not yet confirmed<" in page
    assert "not yet confirmed by the lock" in page  # the side door's steps, with times


def test_a_full_lock_is_raised_before_it_refuses_a_guest_and_the_nearest_stay_goes_first(
    wired,
):
    from locks.models import Device

    Device.objects.filter(pk=wired.gate.pk).update(max_active_codes=2)
    first = wired.book(days_ahead=1, nights=3, guest_name="Ana")
    second = wired.book(days_ahead=2, nights=3, guest_name="Ben")
    third = wired.book(days_ahead=3, nights=1, guest_name="Chloe")
    run_at(access_on(third, wired.gate).program_at + MINUTE)  # all three are due
    assert access_on(first, wired.gate).state == State.REQUESTED
    assert access_on(second, wired.gate).state == State.REQUESTED
    waiting = access_on(third, wired.gate)
    assert waiting.state == State.FAILED and "No free code slot" in waiting.last_error
    assert access_on(third, wired.side).state == State.REQUESTED  # other locks go on
    alert = DeviceAlert.objects.get(device=wired.gate, kind=DeviceAlert.Kind.FEW_SLOTS)
    assert alert.resolved_at is None and "of 2 code slots in use" in alert.message
    # The first stay leaves: its slot goes to the third.
    services.reservation_cancel(reservation=first)
    run_at(waiting.due_at + datetime.timedelta(seconds=1))
    assert access_on(third, wired.gate).state == State.REQUESTED
    assert len(wired.codes_on(wired.gate)) == 2


def test_a_late_unlock_with_a_code_id_the_stay_held_before_finds_its_guest(wired):
    from reservations.models import LockEvent

    reservation = in_stay(wired)
    gate = access_on(reservation, wired.gate)
    old_id = gate.provider_id
    wired.seam.access_codes.delete(access_code_id=old_id)
    readback.lock_reconcile_by_id(wired.gate.pk)
    run_at(timezone.now())  # re-created under a new id
    assert access_on(reservation, wired.gate).provider_id != old_id
    wired.fake.control(
        "/events/add",
        event_type="lock.unlocked",
        device_id=wired.gate.provider_device_id,
        access_code_id=old_id,
        method="keycode",
    )
    events_reconcile(connection=wired.connection)
    unlock = LockEvent.objects.get(kind=LockEvent.Kind.UNLOCKED)
    assert unlock.reservation == reservation and unlock.person_name == "Maria Silva"


# --- the reconcile and the workers take turns on a lock ----------------------------------


def test_a_lock_a_worker_is_writing_is_left_for_the_next_sweep(wired):
    """Read half-way through a worker's write, the lock shows a code the provider took and
    Keystay has not recorded yet: it must not be taken for a stray and deleted."""
    reservation = in_stay(wired)
    wired.gate.refresh_from_db()
    read_before = wired.gate.reconciled_at
    token = pacing.lease_take(wired.gate.pk)  # a worker is writing the gate's codes...
    wired.seam.access_codes.create(  # ...and the provider just took its new code
        device_id=wired.gate.provider_device_id,
        code="482915",
        name=f"KS{reservation.pk}-{wired.gate.pk} Maria Silva",
    )
    wired.fake.requests(clear=True)

    assert readback.lock_reconcile_by_id(wired.gate.pk).startswith("busy")
    assert wired.fake.requests() == {}  # not even read
    assert len(wired.codes_on(wired.gate)) == 2
    wired.gate.refresh_from_db()
    assert wired.gate.reconciled_at == read_before  # still due: the next sweep reads it
    assert wired.gate.pk in readback.locks_due_for_reconcile()

    pacing.lease_release(wired.gate.pk, token)
    assert not readback.lock_reconcile_by_id(wired.gate.pk).startswith("busy")


def test_steps_that_fell_due_while_the_reconcile_held_a_lock_are_carried_out_after_it(wired):
    reservation = in_stay(wired)
    token = pacing.lease_take(wired.gate.pk)  # the reconcile holds the gate...
    services.reservation_cancel(reservation=reservation)
    run_at(timezone.now())  # ...when the worker comes to take the code off
    assert wired.codes_on(wired.side) == []
    assert len(wired.codes_on(wired.gate)) == 1  # left to the lock's holder
    pacing.lease_release(wired.gate.pk, token)

    with wired.seam_gateway() as gateway:
        readback.lock_reconcile(device=wired.gate, gateway=gateway)
    assert wired.codes_on(wired.gate) == []  # queued as the reconcile let go, not a sweep later
    assert access_on(reservation, wired.gate).state == State.REVOKED
