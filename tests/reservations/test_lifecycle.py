"""The life of a code, checked on Seam's fake server through the real SDK."""

import datetime

import pytest
import time_machine
from django.utils import timezone

from locks.models import LockAssignment
from reservations import services
from reservations.codes import LockRules, guessable_reason, lock_refusal
from reservations.models import LockAccess, Reservation
from tests.fixtures_lifecycle import run_at

pytestmark = pytest.mark.django_db

MINUTE = datetime.timedelta(minutes=1)
State = LockAccess.State


def seam_time(value):
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def access_on(reservation, device):
    return LockAccess.objects.get(reservation=reservation, device=device)


def test_confirmation_generates_one_code_that_every_guest_lock_accepts(wired):
    reservation = wired.book()
    code = reservation.code.value
    assert len(code) == 6  # Side Door takes 6 digits only; Garden Gate 4-6
    for device in (wired.gate, wired.side):
        assert lock_refusal(code, LockRules.of(device)) is None
    assert guessable_reason(code) is None
    assert not "3456789".endswith(code) and not code.startswith("12")
    accesses = LockAccess.objects.filter(reservation=reservation)
    assert {a.device for a in accesses} == {wired.gate, wired.side}  # not the back door
    assert {a.state for a in accesses} == {State.PLANNED}


def test_code_goes_on_every_guest_lock_at_its_programming_instant_with_the_stay_window(wired):
    reservation = wired.book()
    gate = access_on(reservation, wired.gate)
    starts, ends = reservation.window
    assert gate.program_at == starts - wired.listing.lead_time
    assert gate.due_at == gate.program_at
    run_at(gate.program_at - MINUTE)  # not yet
    assert wired.codes_on(wired.gate) == []
    run_at(gate.program_at + MINUTE)
    for device in (wired.gate, wired.side):
        (on_lock,) = wired.codes_on(device)
        assert on_lock.code == reservation.code.value
        assert (on_lock.starts_at, on_lock.ends_at) == (seam_time(starts), seam_time(ends))
        assert on_lock.access_code_id == access_on(reservation, device).provider_id
    assert wired.codes_on(wired.back) == []
    gate.refresh_from_db()
    # Seam accepted it; the lock has not said so yet: sent, not confirmed, never "active".
    assert gate.state == State.REQUESTED and gate.due_at == ends
    with time_machine.travel(starts + MINUTE, tick=False):
        assert gate.current_state() == State.REQUESTED
    wired.lock_reports_set(at=gate.program_at + 2 * MINUTE)
    gate.refresh_from_db()
    assert gate.state == State.CONFIRMED and gate.confirmed_at is not None
    with time_machine.travel(starts + MINUTE, tick=False):
        assert gate.current_state() == State.ACTIVE  # derived from time, to the second


def test_codes_are_removed_after_check_out_and_the_removal_confirmed(wired):
    reservation = wired.book()
    starts, ends = reservation.window
    run_at(starts)
    assert len(wired.codes_on(wired.gate)) == 1
    run_at(ends - MINUTE)
    assert len(wired.codes_on(wired.gate)) == 1
    run_at(ends + MINUTE)
    assert wired.codes_on(wired.gate) == [] and wired.codes_on(wired.side) == []
    for access in reservation.lock_accesses.all():
        assert access.state == State.REMOVED and access.due_at is None


def test_cancellation_revokes_the_code_on_every_lock_at_once(
    wired, django_capture_on_commit_callbacks
):
    reservation = wired.book(days_ahead=0, nights=2)  # the stay is on
    run_at(timezone.now())
    assert len(wired.codes_on(wired.side)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        services.reservation_cancel(reservation=reservation)
    # The task queue ran on commit (synchronously in tests): no sweep was needed.
    assert wired.codes_on(wired.gate) == [] and wired.codes_on(wired.side) == []
    assert {a.state for a in reservation.lock_accesses.all()} == {State.REVOKED}


def test_a_stay_ended_early_loses_its_code_at_once(wired, django_capture_on_commit_callbacks):
    reservation = wired.book(days_ahead=0, nights=3)
    run_at(timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        services.reservation_end_stay(reservation=reservation)
    assert wired.codes_on(wired.gate) == []
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CHECKED_OUT
    assert {a.state for a in reservation.lock_accesses.all()} == {State.REMOVED}


def test_late_confirmation_programs_at_once_with_the_window_starting_now(wired):
    reservation = wired.book(days_ahead=-1, nights=3, status=Reservation.Status.PENDING)
    now = timezone.now().replace(microsecond=0)
    with time_machine.travel(now, tick=False):
        services.reservation_confirm(reservation=reservation)
        services.process_due()
    (on_lock,) = wired.codes_on(wired.gate)
    assert on_lock.starts_at == seam_time(now)  # not in the past


def test_a_date_change_after_the_code_was_sent_keeps_the_code_and_moves_the_window(wired):
    reservation = wired.book()
    run_at(access_on(reservation, wired.gate).program_at)
    services.code_mark_sent(reservation=reservation)
    code = reservation.code.value
    provider_id = access_on(reservation, wired.gate).provider_id
    new_out = reservation.check_out + datetime.timedelta(days=2)
    services.reservation_update(reservation=reservation, check_out=new_out)
    run_at(timezone.now())
    reservation.refresh_from_db()
    assert reservation.code.value == code
    for device in (wired.gate, wired.side):
        (on_lock,) = wired.codes_on(device)
        assert on_lock.code == code and on_lock.ends_at == seam_time(new_out)
    assert wired.codes_on(wired.gate)[0].access_code_id == provider_id  # updated in place


def test_switching_guest_access_off_and_on_changes_that_lock_alone(wired):
    reservation = wired.book(days_ahead=0)
    run_at(timezone.now())
    side = LockAssignment.objects.get(listing=wired.listing, device=wired.side)
    side.guest_access = False
    side.save()
    services.listings_replan(listing_ids=[wired.listing.pk])
    run_at(timezone.now())
    assert wired.codes_on(wired.side) == []
    assert len(wired.codes_on(wired.gate)) == 1
    assert access_on(reservation, wired.side).state == State.REVOKED
    back = LockAssignment.objects.get(listing=wired.listing, device=wired.back)
    back.guest_access = True
    back.save()
    services.listings_replan(listing_ids=[wired.listing.pk])
    run_at(timezone.now())
    (on_back,) = wired.codes_on(wired.back)
    assert on_back.code == reservation.code.value


def test_unassigning_a_lock_revokes_its_code_only_there(wired):
    reservation = wired.book(days_ahead=0)
    run_at(timezone.now())
    LockAssignment.objects.get(listing=wired.listing, device=wired.side).delete()
    services.listings_replan(listing_ids=[wired.listing.pk])
    run_at(timezone.now())
    assert wired.codes_on(wired.side) == []
    assert len(wired.codes_on(wired.gate)) == 1
    access = access_on(reservation, wired.side)
    assert (access.state, access.reason) == (State.REVOKED, LockAccess.Reason.UNASSIGNED)


def test_an_override_changes_code_and_window_on_its_lock_alone(wired):
    from reservations.models import AccessOverride

    reservation = wired.book()
    gate_assignment = LockAssignment.objects.get(listing=wired.listing, device=wired.gate)
    override = AccessOverride(
        reservation=reservation,
        assignment=gate_assignment,
        starts_at=reservation.check_in - datetime.timedelta(hours=2),
        lead_time_minutes=30,
    )
    override.code = "483921"
    override.save()
    services.reservation_replan(reservation=reservation)
    gate = access_on(reservation, wired.gate)
    assert gate.program_at == override.starts_at - datetime.timedelta(minutes=30)
    run_at(gate.program_at)
    (on_gate,) = wired.codes_on(wired.gate)
    assert on_gate.code == "483921"
    assert on_gate.starts_at == seam_time(override.starts_at)
    (on_side,) = wired.codes_on(wired.side)
    assert on_side.code == reservation.code.value
    assert on_side.starts_at == seam_time(reservation.check_in)


def test_a_rotated_code_replaces_the_old_one_on_every_lock(wired):
    reservation = wired.book(days_ahead=0)
    run_at(timezone.now())
    old = reservation.code.value
    new = services.code_rotate(reservation=reservation)
    run_at(timezone.now())
    assert new != old
    for device in (wired.gate, wired.side):
        assert [c.code for c in wired.codes_on(device)] == [new]


def test_a_reservation_moved_to_another_listing_moves_its_code(wired, org_a):
    from tests.factories import ListingFactory

    other = ListingFactory(property=wired.listing.property)
    LockAssignment.objects.create(listing=other, device=wired.back, role="primary")
    reservation = wired.book(days_ahead=0)
    run_at(timezone.now())
    services.reservation_update(reservation=reservation, listing=other)
    run_at(timezone.now())
    assert wired.codes_on(wired.gate) == [] and wired.codes_on(wired.side) == []
    assert [c.code for c in wired.codes_on(wired.back)] == [reservation.code.value]
    assert access_on(reservation, wired.gate).reason == LockAccess.Reason.MOVED


def test_same_day_turnover_gives_each_guest_their_own_code(wired):
    first = wired.book(days_ahead=1, nights=2, guest_name="First Guest")
    second = services.reservation_create(
        listing=wired.listing,
        guest_name="Second Guest",
        check_in=first.check_out,  # the next stay starts the instant the first ends
        check_out=first.check_out + datetime.timedelta(days=2),
        status=Reservation.Status.CONFIRMED,
    )
    assert first.code.value != second.code.value
    run_at(second.check_in - MINUTE)
    assert sorted(c.code for c in wired.codes_on(wired.gate)) == sorted(
        [first.code.value, second.code.value]
    )


def test_a_provider_outage_is_retried_with_backoff_and_recovers_without_duplicates(wired):
    reservation = wired.book(days_ahead=0)
    now = (timezone.now() + datetime.timedelta(seconds=1)).replace(microsecond=0)
    wired.fake.control("/outage", routes=["/access_codes/create"])
    try:
        run_at(now)
        gate = access_on(reservation, wired.gate)
        assert gate.state == State.FAILED and gate.attempts == 1
        assert "unavailable" in gate.last_error
        assert gate.due_at == now + datetime.timedelta(seconds=30)
        run_at(now + datetime.timedelta(seconds=31))
        gate.refresh_from_db()
        assert gate.attempts == 2
        assert gate.due_at == now + datetime.timedelta(seconds=31 + 60)
    finally:
        wired.fake.control("/outage", routes=[])
    run_at(now + datetime.timedelta(seconds=95))
    for device in (wired.gate, wired.side):
        assert [c.code for c in wired.codes_on(device)] == [reservation.code.value]
        access = access_on(reservation, device)
        assert (access.state, access.attempts, access.last_error) == (State.REQUESTED, 0, "")


def test_a_code_created_unseen_is_adopted_never_duplicated(wired):
    reservation = wired.book(days_ahead=0)
    gate = access_on(reservation, wired.gate)
    # As if a create succeeded at Seam but its answer was lost on the way back: the
    # worker counted it as a failed attempt, to be tried again.
    LockAccess.objects.filter(pk=gate.pk).update(
        state=State.FAILED, attempts=1, last_error="Timed out.", due_at=timezone.now()
    )
    wired.seam.access_codes.create(
        device_id=wired.gate.provider_device_id,
        code=reservation.code.value,
        name=f"KS{reservation.pk}-{wired.gate.pk} Maria",
        starts_at=seam_time(gate.starts_at),
        ends_at=seam_time(gate.ends_at),
    )
    run_at(timezone.now())
    (on_gate,) = wired.codes_on(wired.gate)
    gate.refresh_from_db()
    assert gate.provider_id == on_gate.access_code_id and gate.state == State.REQUESTED


def test_a_stay_across_a_daylight_saving_change_keeps_local_times(wired):
    prop = wired.listing.property
    prop.time_zone = "America/New_York"  # clocks go forward on 2027-03-14
    prop.save()
    listing = wired.listing
    reservation = services.reservation_create(
        listing=listing,
        guest_name="Spring Forward",
        check_in=listing.local_check_in(datetime.date(2027, 3, 12)),
        check_out=listing.local_check_out(datetime.date(2027, 3, 16)),
        status=Reservation.Status.CONFIRMED,
    )
    run_at(reservation.check_in - MINUTE)
    (on_gate,) = wired.codes_on(wired.gate)
    assert on_gate.starts_at == "2027-03-12T20:00:00.000Z"  # 15:00 EST (UTC-5)
    assert on_gate.ends_at == "2027-03-16T15:00:00.000Z"  # 11:00 EDT (UTC-4)


def test_an_entrance_is_planned_and_programmed_like_a_lock(wired):
    entrance = wired.connection.devices.get(name="Building Front Entrance")
    LockAssignment.objects.create(listing=wired.listing, device=entrance, guest_access=True)
    reservation = wired.book(days_ahead=0)
    access = access_on(reservation, entrance)
    assert access.code == reservation.code.value
    assert (access.starts_at, access.ends_at) == reservation.window
    run_at(timezone.now())
    access.refresh_from_db()
    # The guest user and its access schedule exist at Seam's fake...
    user = wired.seam.acs.users.get(acs_user_id=access.provider_user_id)
    assert user.access_schedule.ends_at.startswith(
        access.ends_at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    )
    # ...but the fake has no PIN credentials: the failure is shown and retried, not lost.
    assert access.state == State.FAILED and access.due_at is not None
    assert "acs/credentials/create" in access.last_error
    services.reservation_cancel(reservation=reservation)
    run_at(timezone.now())
    access.refresh_from_db()
    assert access.state == State.REVOKED
    assert not [u for u in wired.seam.acs.users.list() if u.acs_user_id == user.acs_user_id]


def test_process_due_command_runs_due_work_and_retries_failures_with_now(wired, capsys):
    from django.core.management import call_command

    reservation = wired.book(days_ahead=0)
    wired.fake.control("/outage", routes=["/access_codes/create"])
    try:
        call_command("process_due")
    finally:
        wired.fake.control("/outage", routes=[])
    assert "Worked on 2 lock accesses" in capsys.readouterr().out
    call_command("process_due")  # the retry is not due yet: nothing happens
    assert wired.codes_on(wired.gate) == []
    call_command("process_due", "--now")
    assert [c.code for c in wired.codes_on(wired.gate)] == [reservation.code.value]


def test_a_code_the_lock_already_holds_is_refused_as_a_duplicate_and_not_retried(wired):
    # Under way whatever the time of day: before check-in, a duplicate moves the stay to
    # a new code instead (test_door_truth), since the guest may not have this one yet.
    reservation = wired.book(days_ahead=-1, nights=3)
    # Someone put the same digits on the gate by other means (another app, by hand).
    wired.seam.access_codes.create(
        device_id=wired.gate.provider_device_id, code=reservation.code.value, name="Owner"
    )
    run_at(timezone.now())
    gate = access_on(reservation, wired.gate)
    assert gate.state == State.FAILED and gate.due_at is None  # waits for a new code
    assert "already holds this code" in gate.last_error
    assert access_on(reservation, wired.side).state == State.REQUESTED
