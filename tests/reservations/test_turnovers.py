"""Turnovers: a crew member's code per gap between stays, on the staff doors only, for
its window only, checked on Seam's fake server through the real SDK with the clock moved."""

import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from reservations import readback, services, turnovers
from reservations.models import (
    DeviceAlert,
    LockAccess,
    LockEvent,
    Reservation,
    ReservationCode,
    Turnover,
)
from tests.fixtures_lifecycle import run_at, same_day_pair
from tests.reservations.test_arrival_and_vacant_unlock import unlock

pytestmark = pytest.mark.django_db

MINUTE = datetime.timedelta(minutes=1)
State = LockAccess.State


def seam_time(value):
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def turnover_of(stay) -> Turnover:
    return Turnover.objects.get(after_stay=stay)


def crew_codes(wired, device):
    return [c for c in wired.codes_on(device) if c.name.startswith("KT")]


def guest_codes(wired, device):
    return [c for c in wired.codes_on(device) if c.name.startswith("KS")]


def test_a_turnover_code_goes_on_the_staff_doors_only_for_its_window(crew):
    first, second = same_day_pair(crew)
    turnover = turnover_of(first)
    assert turnover.next_stay == second and turnover.assignee == crew.rosa
    assert (turnover.starts_at, turnover.ends_at) == (first.check_out, second.check_in)
    accesses = LockAccess.objects.filter(turnover=turnover)
    assert {a.device for a in accesses} == {crew.gate, crew.back}  # not Side Door

    run_at(turnover.starts_at - crew.listing.lead_time + MINUTE)
    for device in (crew.gate, crew.back):
        (on_lock,) = crew_codes(crew, device)
        assert on_lock.code == turnover.code
        assert on_lock.name == f"KT{turnover.pk}-{device.pk} Cleaner Rosa"[: len(on_lock.name)]
        assert (on_lock.starts_at, on_lock.ends_at) == (
            seam_time(turnover.starts_at),
            seam_time(turnover.ends_at),
        )
    assert crew_codes(crew, crew.side) == []
    # Guests' codes never land on the staff-only door.
    run_at(second.check_in - crew.listing.lead_time + MINUTE)
    assert guest_codes(crew, crew.back) == []
    assert len(guest_codes(crew, crew.side)) == 2

    run_at(turnover.ends_at + MINUTE)
    run_at(turnover.ends_at + 3 * MINUTE)  # the removal confirmed gone
    for device in (crew.gate, crew.back):
        assert crew_codes(crew, device) == []
    assert set(LockAccess.objects.filter(turnover=turnover).values_list("state", flat=True)) == {
        State.REMOVED
    }


def test_the_turnover_follows_a_change_of_the_next_check_in(crew):
    first, second = same_day_pair(crew)
    turnover = turnover_of(first)
    run_at(turnover.starts_at - crew.listing.lead_time + MINUTE)
    later = second.check_in + datetime.timedelta(hours=2)
    services.reservation_update(reservation=second, check_in=later)
    turnover.refresh_from_db()
    assert turnover.ends_at == later
    run_at(turnover.starts_at - crew.listing.lead_time + 2 * MINUTE)
    (on_gate,) = crew_codes(crew, crew.gate)
    assert on_gate.ends_at == seam_time(later)


def test_a_cancelled_check_out_drops_its_turnover_and_its_code(crew):
    first, _ = same_day_pair(crew)
    turnover = turnover_of(first)
    run_at(turnover.starts_at - crew.listing.lead_time + MINUTE)
    assert len(crew_codes(crew, crew.back)) == 1
    with time_machine.travel(turnover.starts_at - crew.listing.lead_time + 2 * MINUTE):
        services.reservation_cancel(reservation=first)
    turnover.refresh_from_db()
    assert turnover.state == Turnover.State.CANCELLED
    run_at(turnover.starts_at - crew.listing.lead_time + 4 * MINUTE)
    assert crew_codes(crew, crew.back) == [] and crew_codes(crew, crew.gate) == []
    assert set(LockAccess.objects.filter(turnover=turnover).values_list("state", flat=True)) == {
        State.REVOKED
    }


def test_a_turnover_code_deleted_at_the_provider_is_put_back(crew):
    first, _ = same_day_pair(crew)
    turnover = turnover_of(first)
    at = turnover.starts_at - crew.listing.lead_time + MINUTE
    run_at(at)
    (gone,) = crew_codes(crew, crew.back)
    crew.seam.access_codes.delete(access_code_id=gone.access_code_id)
    with time_machine.travel(at + MINUTE, tick=False):
        readback.lock_reconcile_by_id(crew.back.pk)
    run_at(at + 2 * MINUTE)
    (back,) = crew_codes(crew, crew.back)
    assert back.code == turnover.code and back.access_code_id != gone.access_code_id
    kinds = set(
        LockAccess.objects.get(turnover=turnover, device=crew.back).logs.values_list(
            "kind", flat=True
        )
    )
    assert {"missing", "recreated"} <= kinds


def test_a_zero_gap_turnover_is_flagged_and_never_gets_a_code(crew):
    first = crew.book(days_ahead=3, nights=2)
    crew.listing.check_in_time = crew.listing.effective_check_out_time
    crew.listing.save()
    second = crew.book(days_ahead=5, nights=2, guest_name="Jon Park")
    assert second.check_in == first.check_out
    turnover = turnover_of(first)
    assert turnover.impossible and turnover.starts_at == turnover.ends_at
    # Planned while nobody came next; taken back before it reached a lock.
    assert not LockAccess.objects.filter(turnover=turnover, wanted=True).exists()
    run_at(first.check_out - crew.listing.lead_time + MINUTE)
    assert crew_codes(crew, crew.back) == []


def test_a_last_stay_gets_the_listings_turnover_duration_in_local_time(crew):
    first = crew.book(days_ahead=3, nights=2)
    turnover = turnover_of(first)
    # The next stay (the factory's, two months out) is too far to end it.
    assert turnover.next_stay.check_in - first.check_out > datetime.timedelta(days=30)
    assert turnover.ends_at - turnover.starts_at == datetime.timedelta(hours=4)


def test_a_turnover_length_is_kept_on_the_wall_clock_across_a_clock_change(crew):
    """Europe/Lisbon springs forward at 01:00 on 2027-03-28: a 4-hour turnover from
    23:00 ends at 03:00 local, 3 hours later."""
    prop = crew.listing.property
    prop.time_zone = "Europe/Lisbon"
    prop.save()
    zone = prop.zone
    with time_machine.travel(datetime.datetime(2027, 3, 20, tzinfo=datetime.UTC)):
        stay = services.reservation_create(
            listing=crew.listing,
            guest_name="Ana",
            check_in=datetime.datetime(2027, 3, 25, 15, tzinfo=zone),
            check_out=datetime.datetime(2027, 3, 27, 23, tzinfo=zone),
            status=Reservation.Status.CONFIRMED,
        )
    turnover = turnover_of(stay)
    assert turnover.ends_at.astimezone(zone).time() == datetime.time(3, 0)
    assert turnover.ends_at - turnover.starts_at == datetime.timedelta(hours=3)


def test_turnovers_off_makes_none(wired):
    first, _ = same_day_pair(wired)
    assert not Turnover.objects.filter(after_stay=first).exists()


def test_done_starts_the_next_guests_code_early_on_every_guest_door(crew):
    crew.listing.early_check_in_max_minutes = 180
    crew.listing.save()
    first, second = same_day_pair(crew)
    turnover = turnover_of(first)
    ReservationCode.objects.filter(reservation=second).update(sent_at=timezone.now())
    run_at(second.check_in - crew.listing.lead_time + MINUTE)
    ready = first.check_out + datetime.timedelta(minutes=30)  # 11:30, check-in 15:00
    with time_machine.travel(ready, tick=False):
        assert turnovers.turnover_done(turnover=turnover, by="Rosa")
        assert not turnovers.turnover_done(turnover=turnover, by="Rosa")  # nothing more
    turnover.refresh_from_db()
    earliest = second.check_in - datetime.timedelta(minutes=180)  # 12:00
    assert turnover.state == Turnover.State.DONE and turnover.early_check_in_from == earliest
    run_at(ready + MINUTE)
    for device in (crew.gate, crew.side):
        (on_lock,) = [c for c in guest_codes(crew, device) if c.code == second.code.value]
        assert on_lock.starts_at == seam_time(earliest)
    # The crew's code left the doors once the unit was ready.
    run_at(ready + 3 * MINUTE)
    assert crew_codes(crew, crew.back) == []


def test_no_early_start_for_a_guest_not_yet_sent_their_code(crew):
    crew.listing.early_check_in_max_minutes = 180
    crew.listing.save()
    first, second = same_day_pair(crew)
    turnover = turnover_of(first)
    with time_machine.travel(first.check_out + MINUTE, tick=False):
        assert turnovers.turnover_done(turnover=turnover, by="Rosa")
    turnover.refresh_from_db()
    second.refresh_from_db()
    assert turnover.early_check_in_from is None and second.early_access_from is None


def test_early_start_never_before_the_turnovers_own_start(crew):
    crew.listing.early_check_in_max_minutes = 24 * 60
    crew.listing.save()
    first, second = same_day_pair(crew)
    turnover = turnover_of(first)
    ReservationCode.objects.filter(reservation=second).update(sent_at=timezone.now())
    # Done the moment the guests leave, with a day of early check-in allowed: the next
    # guest starts then, not a day before.
    with time_machine.travel(first.check_out, tick=False):
        assert turnovers.turnover_done(turnover=turnover, by="Rosa")
    turnover.refresh_from_db()
    assert turnover.early_check_in_from == turnover.starts_at


def test_done_before_the_guests_leave_is_refused_and_changes_nothing(crew):
    crew.listing.early_check_in_max_minutes = 24 * 60
    crew.listing.save()
    first, second = same_day_pair(crew)
    turnover = turnover_of(first)
    with (
        time_machine.travel(first.check_out - datetime.timedelta(hours=1), tick=False),
        pytest.raises(ValidationError, match="when the guests leave"),
    ):
        turnovers.turnover_done(turnover=turnover, by="Rosa")
    turnover.refresh_from_db()
    assert turnover.state == Turnover.State.PLANNED and turnover.done_at is None
    assert Reservation.objects.get(pk=second.pk).early_access_from is None


def test_a_crew_unlock_in_its_window_starts_the_turnover_and_raises_no_alert(crew):
    first = crew.book(days_ahead=3, nights=2)  # nobody next: 11:00 to 15:00
    turnover = turnover_of(first)
    run_at(turnover.starts_at - crew.listing.lead_time + MINUTE)
    code_id = LockAccess.objects.get(turnover=turnover, device=crew.gate).provider_id
    inside = turnover.starts_at + datetime.timedelta(minutes=32)
    unlock(crew, crew.gate, at=inside, access_code_id=code_id, method="keycode")
    event = LockEvent.objects.get(kind=LockEvent.Kind.UNLOCKED)
    assert event.who == "Cleaner Rosa" and event.turnover == turnover
    turnover.refresh_from_db()
    assert turnover.state == Turnover.State.STARTED and turnover.started_at == inside
    assert not DeviceAlert.objects.filter(kind=DeviceAlert.Kind.VACANT_UNLOCK).exists()

    # The same code after its window, nobody staying: an unlock while vacant.
    after = turnover.ends_at + datetime.timedelta(hours=1)
    unlock(crew, crew.gate, at=after, access_code_id=code_id, method="keycode")
    (alert,) = DeviceAlert.objects.filter(kind=DeviceAlert.Kind.VACANT_UNLOCK)
    assert "Cleaner Rosa" in alert.message


def test_crew_codes_take_slots_and_a_full_lock_is_raised_before_a_guest_is_refused(crew):
    """A crew code holds one of the lock's slots like a guest's: Maria's code and the
    crew's fill the gate's two; Jon's waits, the lock raised before his code was due."""
    crew.gate.max_active_codes = 2
    crew.gate.save(update_fields=["max_active_codes"])
    first, second = same_day_pair(crew)
    turnover = turnover_of(first)
    run_at(turnover.starts_at - crew.listing.lead_time + MINUTE)
    assert LockAccess.objects.get(turnover=turnover, device=crew.gate).provider_id
    assert services.slots_in_use(crew.gate) == 2
    assert DeviceAlert.objects.filter(
        kind=DeviceAlert.Kind.FEW_SLOTS, device=crew.gate, resolved_at__isnull=True
    ).exists()
    run_at(second.check_in - crew.listing.lead_time + MINUTE)
    refused = LockAccess.objects.get(reservation=second, device=crew.gate)
    assert refused.state == State.FAILED and "No free code slot" in refused.last_error


def test_the_dashboard_and_the_feed_show_the_crew(crew, manager_client, org_b, client):
    first = crew.book(days_ahead=0, nights=1)  # leaves tomorrow at 11:00
    turnover = turnover_of(first)
    # On the doors: the code falls due a lead time before the turnover, or now when that
    # instant has passed already (this test runs at any time of day).
    run_at(max(turnover.starts_at - crew.listing.lead_time, timezone.now()) + MINUTE)
    page = manager_client.get(reverse("dashboard")).content.decode()
    section = page.split('id="turnovers"')[1].split('<div class="module"')[0]
    assert "Cleaner Rosa" in section and crew.listing.name in section
    assert "Not yet" in section and turnover.code not in section  # never the code itself
    # A crew code failing on a door: shown on its turnover, the page still whole.
    LockAccess.objects.filter(turnover=turnover, device=crew.back).update(state=State.FAILED)
    page = manager_client.get(reverse("dashboard"))
    assert page.status_code == 200
    section = page.content.decode().split('id="turnovers"')[1].split('<div class="module"')[0]
    assert ">failed<" in section

    code_id = LockAccess.objects.get(turnover=turnover, device=crew.gate).provider_id
    unlock(
        crew, crew.gate, at=turnover.starts_at + MINUTE, access_code_id=code_id, method="keycode"
    )
    feed = manager_client.get(reverse("activity_feed")).content.decode()
    assert "Cleaner Rosa" in feed and f"turnover of {crew.listing.name}" in feed
    client.force_login(org_b.manager)
    assert "Cleaner Rosa" not in client.get(reverse("dashboard")).content.decode()


def test_the_timeline_has_a_crew_lane_with_each_turnover(crew, manager_client):
    first, second = same_day_pair(crew)
    turnover = turnover_of(first)
    html = manager_client.get(reverse("listing_timeline", args=[crew.listing.pk])).content
    svg = html.decode().split("<svg", 1)[1]
    crew_lane = svg.split(f'data-lane="{crew.listing.pk}-crew"')[1].split("</g>\n    </g>")[0]
    assert 'data-kind="crew"' in crew_lane and "Cleaner Rosa" in crew_lane
    assert f"/admin/reservations/turnover/{turnover.pk}/" in crew_lane


def test_a_crew_code_the_lock_already_holds_gives_the_turnover_a_new_code(crew):
    first, _ = same_day_pair(crew)
    turnover = turnover_of(first)
    old = turnover.code
    # Someone put the same digits on the storeroom door by other means.
    crew.seam.access_codes.create(device_id=crew.back.provider_device_id, code=old, name="Owner")
    run_at(turnover.starts_at - crew.listing.lead_time + MINUTE)
    run_at(turnover.starts_at - crew.listing.lead_time + 2 * MINUTE)
    turnover.refresh_from_db()
    assert turnover.code != old
    (on_back,) = crew_codes(crew, crew.back)
    (on_gate,) = crew_codes(crew, crew.gate)
    assert on_back.code == on_gate.code == turnover.code
    assert LockAccess.objects.get(turnover=turnover, device=crew.back).logs.filter(
        kind="duplicate"
    )


def test_the_turnover_page_gives_the_task_link_and_local_times(crew, manager_client):
    """A cleaner with a phone and no email gets the link another way; every time on the
    page is the property's."""
    first, _second = same_day_pair(crew)
    turnover = turnover_of(first)
    page = manager_client.get(
        reverse("admin:reservations_turnover_change", args=[turnover.pk])
    ).content.decode()
    assert reverse("crew_task_page", args=[turnovers.task_token(turnover)]) in page
    assert " UTC" not in page.split('id="content-main"', 1)[1]
