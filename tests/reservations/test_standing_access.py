"""Standing crew access and offboarding in one act, checked on Seam's fake server through
the real SDK with the clock moved: a standing code goes on its doors (an open-ended one
without an end), an unlock outside its working hours raises an alert (not inside, not
exactly at a boundary, also on a daylight-saving day), and offboarding takes every code
of the person off every door, each confirmed gone at the fake, with a report."""

import datetime
import zoneinfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from guests.tasks import send_due
from locks.models import Device
from locks.services import devices_sync
from properties.models import CrewMember
from reservations import readback
from reservations.models import (
    DeviceAlert,
    LockAccess,
    LockEvent,
    StandingAccess,
    StandingHours,
    Turnover,
)
from reservations.standing import (
    clearance_rows,
    crew_offboard,
    standing_end,
    standing_replan,
    standing_save,
)
from tests.fixtures_lifecycle import run_at, same_day_pair
from tests.reservations.test_arrival_and_vacant_unlock import unlock

pytestmark = pytest.mark.django_db

MINUTE = datetime.timedelta(minutes=1)
LISBON = zoneinfo.ZoneInfo("Europe/Lisbon")
State = LockAccess.State


def standing_codes(wired, device):
    return [c for c in wired.codes_on(device) if c.name.startswith("KC")]


def give_standing(wired, *, member=None, starts_at=None, ends_at=None, doors=(), listing=True):
    standing = StandingAccess(
        organization=wired.listing.organization,
        crew_member=member or wired.rosa,
        listing=wired.listing if listing else None,
        starts_at=starts_at or timezone.now() - datetime.timedelta(hours=1),
        ends_at=ends_at,
    )
    standing_save(standing=standing, doors=list(doors))
    standing.refresh_from_db()
    return standing


def test_an_open_ended_standing_code_is_programmed_without_an_end(crew):
    standing = give_standing(crew, doors=[crew.side])  # staff doors + a picked door
    run_at(timezone.now())
    for device in (crew.gate, crew.back, crew.side):
        (on_lock,) = standing_codes(crew, device)
        assert on_lock.code == standing.code
        assert on_lock.name.startswith(f"KC{standing.pk}-{device.pk} Cleaner Rosa"[:20])
        assert on_lock.type == "ongoing"
        assert on_lock.starts_at is None and on_lock.ends_at is None
    # The read-back finds it in step, and puts it back when deleted at the provider.
    (gone,) = standing_codes(crew, crew.back)
    crew.seam.access_codes.delete(access_code_id=gone.access_code_id)
    readback.lock_reconcile_by_id(crew.back.pk)
    run_at(timezone.now())
    (back,) = standing_codes(crew, crew.back)
    assert back.code == standing.code and back.access_code_id != gone.access_code_id
    assert back.type == "ongoing"


def test_a_confirmed_open_ended_code_leaves_its_lock_to_the_hourly_read_back(crew):
    give_standing(crew)  # open-ended, on the staff doors: the gate and the back door
    now = timezone.now()
    run_at(now)
    assert {crew.gate.pk, crew.back.pk} <= set(readback.locks_due_for_reconcile(now))
    crew.lock_reports_set(crew.gate, crew.back, at=now)  # confirmed and read back
    assert set(
        LockAccess.objects.filter(standing__isnull=False).values_list("state", flat=True)
    ) == {State.CONFIRMED}
    # Read back hourly, like a lock with nothing to watch, not every few minutes for good.
    in_6 = readback.locks_due_for_reconcile(now + 6 * MINUTE)
    assert crew.gate.pk not in in_6 and crew.back.pk not in in_6
    in_an_hour = readback.locks_due_for_reconcile(now + 61 * MINUTE)
    assert {crew.gate.pk, crew.back.pk} <= set(in_an_hour)


def test_a_confirmed_code_with_an_end_keeps_its_lock_hot(crew):
    give_standing(crew, ends_at=timezone.now() + datetime.timedelta(hours=5))
    now = timezone.now()
    run_at(now)
    crew.lock_reports_set(crew.gate, crew.back, at=now)
    assert {crew.gate.pk, crew.back.pk} <= set(readback.locks_due_for_reconcile(now + 6 * MINUTE))


def test_a_standing_code_with_dates_carries_its_window_to_the_lock(crew):
    starts = timezone.now() + datetime.timedelta(hours=2)
    ends = starts + datetime.timedelta(days=30)
    standing = give_standing(crew, starts_at=starts, ends_at=ends)
    run_at(timezone.now())  # within the listing's lead time
    (on_gate,) = standing_codes(crew, crew.gate)
    assert on_gate.type == "time_bound"
    assert on_gate.ends_at.startswith(ends.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M"))
    assert standing_codes(crew, crew.side) == []  # no staff access, not picked
    # It ends with its window: gone from the doors.
    run_at(ends + MINUTE)
    assert standing_codes(crew, crew.gate) == [] and standing_codes(crew, crew.back) == []
    assert set(standing.lock_accesses.values_list("state", flat=True)) == {State.REMOVED}


def outside_hours_alerts():
    return list(DeviceAlert.objects.filter(kind=DeviceAlert.Kind.OUTSIDE_HOURS).order_by("pk"))


@pytest.mark.parametrize(
    "day",
    [
        datetime.date(2027, 3, 27),  # an ordinary Saturday
        datetime.date(2027, 3, 28),  # Lisbon's clocks go forward at 01:00
        datetime.date(2027, 10, 31),  # and back at 02:00
    ],
)
def test_an_unlock_outside_working_hours_raises_an_alert_and_not_inside(crew, day, manager_client):
    prop = crew.listing.property
    assert prop.time_zone == "Europe/Lisbon"
    early = datetime.datetime.combine(day, datetime.time(0, 30), LISBON)
    with time_machine.travel(early, tick=False):
        standing = give_standing(crew)
        StandingHours.objects.create(
            standing=standing,
            property=prop,
            opens=datetime.time(8, 0),
            closes=datetime.time(17, 0),
        )
    run_at(early + MINUTE)
    code_id = LockAccess.objects.get(standing=standing, device=crew.gate).provider_id
    assert code_id

    def local(hour, minute, second=0):
        return datetime.datetime.combine(day, datetime.time(hour, minute, second), LISBON)

    expected = []
    for at, inside in [
        (local(7, 59), False),
        (local(8, 0), True),  # the boundary is inside
        (local(12, 30), True),
        (local(17, 0), True),  # so is the closing instant
        (local(17, 0, 1), False),
        (local(22, 15), False),
    ]:
        # (The fake lists events by when they were added: the clock stays.)
        unlock(crew, crew.gate, at=at, access_code_id=code_id, method="keycode")
        if not inside:
            expected.append(at)
    alerts = outside_hours_alerts()
    assert [a.opened_at for a in alerts] == expected
    assert "Cleaner Rosa" in alerts[0].message and "07:59" in alerts[0].message
    dashboard = manager_client.get(reverse("dashboard")).content.decode()
    assert "outside their working hours" in dashboard
    # Every unlock is in the feed under the person's name, linked to the standing access.
    events = LockEvent.objects.filter(kind=LockEvent.Kind.UNLOCKED, standing=standing)
    assert events.count() == 6
    assert set(events.values_list("person_name", flat=True)) == {"Cleaner Rosa"}


def test_a_standing_code_is_never_a_vacant_unlock_inside_its_dates(crew):
    standing = give_standing(crew)
    run_at(timezone.now())
    code_id = LockAccess.objects.get(standing=standing, device=crew.gate).provider_id
    unlock(crew, crew.gate, at=timezone.now() - MINUTE, access_code_id=code_id, method="keycode")
    assert not DeviceAlert.objects.filter(kind=DeviceAlert.Kind.VACANT_UNLOCK).exists()
    assert outside_hours_alerts() == []  # no working hours: any hour


def test_offboarding_removes_every_code_of_the_person_and_reports_each(crew):
    first, _ = same_day_pair(crew)
    turnover = Turnover.objects.get(after_stay=first)
    at = turnover.window[0] - crew.listing.lead_time + MINUTE
    with time_machine.travel(at, tick=False):
        standing = give_standing(crew, doors=[crew.side])
    run_at(at)
    old_crew_code = turnover.code
    assert len(standing_codes(crew, crew.side)) == 1
    assert {c.code for c in crew.codes_on(crew.back) if c.name.startswith("KT")} == {old_crew_code}

    with time_machine.travel(at + MINUTE, tick=False):
        clearance = crew_offboard(crew_member=crew.rosa, by="Ana (manager)")
    rows = clearance_rows(clearance)
    # Every code of hers: the standing code on 3 doors and each of her turnovers' codes on
    # the 2 staff doors (the next two turnovers' codes were on no lock yet: cleared at once).
    on_locks = [r for r in rows if r.status == "pending"]
    assert len(rows) == 3 + 2 * Turnover.objects.filter(listing=crew.listing).count()
    assert sorted((r.door, r.holder) for r in on_locks) == [
        ("Fake August Lock 2", "standing"),
        ("Fake August Lock 2", "turnover"),
        ("Front gate", "standing"),
        ("Front gate", "turnover"),
        ("Side Door", "standing"),
    ]
    run_at(at + 2 * MINUTE)

    crew.rosa.refresh_from_db()
    assert not crew.rosa.active
    for device in (crew.gate, crew.back, crew.side):
        assert standing_codes(crew, device) == []  # confirmed gone at the fake
        codes = {c.code for c in crew.codes_on(device)}
        assert standing.code not in codes and old_crew_code not in codes
    turnover.refresh_from_db()
    assert turnover.assignee is None  # Rosa was the default: nobody now, a new code
    assert turnover.code != old_crew_code
    rows = clearance_rows(clearance)
    assert {r.status for r in rows} == {"cleared"}
    assert all(r.cleared_at is not None and r.masked.endswith(r.masked[-2:]) for r in rows)
    assert {r.door for r in rows} == {"Front gate", "Fake August Lock 2", "Side Door"}
    assert all("•" in r.masked for r in rows)
    assert "unassigned" in clearance.turnovers_note
    assert set(standing.lock_accesses.values_list("state", flat=True)) == {State.REVOKED}


def test_a_turnover_goes_to_the_default_crew_member_when_someone_else_leaves(crew):
    ben = CrewMember.objects.create(organization=crew.listing.organization, name="Ben")
    first, _ = same_day_pair(crew)
    turnover = Turnover.objects.get(after_stay=first)
    Turnover.objects.filter(pk=turnover.pk).update(assignee=ben)
    clearance = crew_offboard(crew_member=ben, by="Ana")
    turnover.refresh_from_db()
    assert turnover.assignee == crew.rosa
    assert "to Rosa" in clearance.turnovers_note


def test_ending_a_standing_access_clears_its_doors_with_a_report(crew):
    standing = give_standing(crew)
    run_at(timezone.now())
    clearance = standing_end(standing=standing, by="Ana")
    run_at(timezone.now() + MINUTE)
    assert standing_codes(crew, crew.gate) == [] and standing_codes(crew, crew.back) == []
    assert [r.status for r in clearance_rows(clearance)] == ["cleared", "cleared"]
    crew.rosa.refresh_from_db()
    assert crew.rosa.active  # only this access ended


def test_offboarding_fifty_locks_holds_back_no_other_work_and_clears_each(crew):
    ids = set(crew.fake.add_locks(50))
    devices_sync(connection=crew.connection)
    many = list(Device.objects.filter(provider_device_id__in=ids))
    assert len(many) == 50
    standing = give_standing(crew, doors=many, listing=False)
    run_at(timezone.now())
    assert all(len(standing_codes(crew, d)) == 1 for d in many)

    clearance = crew_offboard(crew_member=crew.rosa, by="Ana")
    guest = crew.book(days_ahead=0, nights=2)  # due now, beside the fifty removals
    run_at(timezone.now() + MINUTE)
    assert all(standing_codes(crew, d) == [] for d in many)
    rows = clearance_rows(clearance)
    assert len(rows) == 50 and {r.status for r in rows} == {"cleared"}
    assert {a.state for a in guest.lock_accesses.all()} == {State.REQUESTED}
    assert standing.lock_accesses.count() == 50


def test_the_feed_and_timeline_show_the_standing_code_under_the_persons_name(crew, manager_client):
    standing = give_standing(crew)
    run_at(timezone.now())
    code_id = LockAccess.objects.get(standing=standing, device=crew.gate).provider_id
    unlock(crew, crew.gate, at=timezone.now() - MINUTE, access_code_id=code_id, method="keycode")
    feed = manager_client.get(reverse("activity_feed")).content.decode()
    assert "Cleaner Rosa" in feed and "standing code" in feed
    assert f"/admin/reservations/standingaccess/{standing.pk}/" in feed
    html = manager_client.get(reverse("listing_timeline", args=[crew.listing.pk])).content
    svg = html.decode().split("<svg", 1)[1]
    crew_lane = svg.split(f'data-lane="{crew.listing.pk}-crew"')[1].split("</g>\n    </g>")[0]
    assert "Cleaner Rosa" in crew_lane
    assert f"/admin/reservations/standingaccess/{standing.pk}/" in crew_lane


def test_the_crew_member_is_emailed_the_code_doors_and_hours_and_again_on_a_change(
    crew, mailoutbox, django_capture_on_commit_callbacks
):
    standing = StandingAccess(
        organization=crew.listing.organization,
        crew_member=crew.rosa,
        listing=crew.listing,
        starts_at=timezone.now() - datetime.timedelta(hours=1),
    )
    hours = [
        {"property": crew.listing.property, "opens": datetime.time(8), "closes": datetime.time(17)}
    ]
    with django_capture_on_commit_callbacks(execute=True):
        standing_save(standing=standing, hours=hours)
    standing.refresh_from_db()
    (mail,) = mailoutbox
    assert mail.to == ["rosa@example.com"]
    assert standing.code in mail.body and "until further notice" in mail.body
    assert "Front gate" in mail.body and "Fake August Lock 2" in mail.body
    assert "08:00–17:00" in mail.body
    with django_capture_on_commit_callbacks(execute=True):
        standing_save(standing=standing, doors=[crew.side])  # a door more: told again
    # As a change note, once the change settled (a correction meanwhile is folded in).
    assert len(mailoutbox) == 1
    with time_machine.travel(timezone.now() + 11 * MINUTE, tick=False):
        send_due()
    assert len(mailoutbox) == 2 and "Side Door" in mailoutbox[1].body
    assert mailoutbox[1].subject == "Your door code has changed"
    with django_capture_on_commit_callbacks(execute=True):
        standing_save(standing=standing)  # nothing new: nothing sent
    with time_machine.travel(timezone.now() + 11 * MINUTE, tick=False):
        send_due()
    assert len(mailoutbox) == 2


def test_a_removal_the_provider_refuses_is_shown_failing_and_retried_until_gone(
    crew, manager_client
):
    standing = give_standing(crew)
    run_at(timezone.now())
    crew.fake.control("/outage", routes=["/access_codes/delete"])
    try:
        clearance = crew_offboard(crew_member=crew.rosa, by="Ana")
        run_at(timezone.now())
        rows = clearance_rows(clearance)
        assert {r.status for r in rows} == {"failing"}
        assert all(r.attempts == 1 and r.error for r in rows)
        page = manager_client.get(
            reverse("admin:reservations_codeclearance_change", args=[clearance.pk])
        ).content.decode()
        assert page.count('data-status="failing"') == 2 and "1 tries, retried" in page
        assert len(standing_codes(crew, crew.gate)) == 1  # still on the door
    finally:
        crew.fake.control("/outage", routes=[])
    run_at(timezone.now() + datetime.timedelta(seconds=31))  # the first retry's wait
    assert standing_codes(crew, crew.gate) == [] and standing_codes(crew, crew.back) == []
    assert {r.status for r in clearance_rows(clearance)} == {"cleared"}
    assert set(standing.lock_accesses.values_list("state", flat=True)) == {State.REVOKED}


def test_saving_a_standing_access_never_puts_back_a_code_read_before_a_change(crew):
    standing = give_standing(crew)
    stale = StandingAccess.objects.get(pk=standing.pk)  # a form opened now
    standing_replan(standing=standing, force_new_code=True)  # a duplicate on a lock
    new_code = StandingAccess.objects.get(pk=standing.pk).code
    assert new_code != stale.code
    stale.note = "Weekly cleaning"
    standing_save(standing=stale)
    saved = StandingAccess.objects.get(pk=standing.pk)
    assert saved.code == new_code and saved.note == "Weekly cleaning"
    assert set(standing.lock_accesses.values_list("code_digest", flat=True)) == {saved.code_digest}
