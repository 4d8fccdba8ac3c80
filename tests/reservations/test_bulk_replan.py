"""Listings re-plan their stays in bulk (a listing import, a lock moved between listings):
a few queries per set of stays, whatever its size, and the very plans the one-by-one
planner makes: the same doors, windows, states, reasons, due instants, codes kept or
made anew, turnovers and events told."""

import datetime

import pytest
import time_machine
from django.db import transaction

from locks.models import LockAssignment
from reservations import planning, signals, turnovers
from reservations.bulk_planning import stays_replan
from reservations.models import (
    AccessOverride,
    LockAccess,
    Reservation,
    ReservationCode,
    Turnover,
)
from tests.factories import (
    ConnectionFactory,
    DeviceFactory,
    ListingFactory,
    PropertyFactory,
    ReservationFactory,
)

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)
HOUR = datetime.timedelta(hours=1)
START = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def no_workers(monkeypatch):
    """Planning asks a worker to carry out what is due now: none here (nothing talks to
    the provider in these tests), the plans alone are compared."""
    monkeypatch.setattr(planning, "enqueue_processing", lambda reservation_id: None)
    monkeypatch.setattr(turnovers, "enqueue_turnover_processing", lambda turnover_id: None)


class World:
    def __init__(self):
        self.property = PropertyFactory()
        self.connection = ConnectionFactory(organization=self.property.organization)
        self.gate = self.device("Gate")  # the building's gate: every listing's

    def device(self, name):
        return DeviceFactory(connection=self.connection, name=name)

    def listing(self, name, *, staff_door=False, **fields):
        listing = ListingFactory(property=self.property, name=name, **fields)
        LockAssignment.objects.create(listing=listing, device=self.device(f"{name} door"))
        LockAssignment.objects.create(listing=listing, device=self.gate)
        if staff_door:
            LockAssignment.objects.create(
                listing=listing,
                device=self.device(f"{name} store"),
                guest_access=False,
                staff_access=True,
            )
        return listing

    def stay(self, listing, guest, *, days=2, nights=2, planned=True, **fields):
        check_in = START + days * DAY
        stay = ReservationFactory(
            listing=listing,
            guest_name=guest,
            check_in=check_in,
            check_out=check_in + nights * DAY,
            **fields,
        )
        if planned:
            planning.reservation_replan(reservation=stay, now=START)
        return stay


def at_provider(stay, device):
    """The stay's code on this lock was sent and confirmed."""
    access = LockAccess.objects.get(reservation=stay, device=device)
    access.provider_id = f"ac_{access.pk}"
    access.provider_code = access.code
    access.provider_starts_at, access.provider_ends_at = access.starts_at, access.ends_at
    access.state = LockAccess.State.CONFIRMED
    access.due_at = access.ends_at
    access.save()


def mixed_world() -> list[int]:
    """Stays of every kind, planned, then changed without a re-plan: the ids to re-plan."""
    w = World()
    harbour = w.listing("Harbour", staff_door=True, turnovers_enabled=True)
    first = w.stay(harbour, "First")
    second = w.stay(harbour, "Second", days=4)  # checks in as First leaves: a turnover
    at_provider(first, w.gate)
    Reservation.objects.filter(pk=second.pk).update(  # moved a day later
        check_in=second.check_in + DAY, check_out=second.check_out + DAY
    )

    quay = w.listing("Quay")
    cancelled = w.stay(quay, "Cancelled")
    at_provider(cancelled, w.gate)
    Reservation.objects.filter(pk=cancelled.pk).update(status=Reservation.Status.CANCELLED)
    told = w.stay(quay, "Told", days=6)
    ReservationCode.objects.filter(reservation=told).update(sent_at=START)
    Reservation.objects.filter(pk=told.pk).update(check_out=told.check_out + DAY)
    moved_before_told = w.stay(quay, "Moved early", days=10)
    Reservation.objects.filter(pk=moved_before_told.pk).update(
        check_in=moved_before_told.check_in - HOUR
    )

    loft = w.listing("Loft")
    w.stay(loft, "Held", planned=False, verification_required=True)
    revoked = w.stay(loft, "Revoked", days=6)
    at_provider(revoked, w.gate)
    Reservation.objects.filter(pk=revoked.pk).update(verification_required=True)
    verified = w.stay(loft, "Verified", days=9, verification_required=True)
    Reservation.objects.filter(pk=verified.pk).update(verified_at=START)

    garden = w.listing("Garden")
    w.stay(garden, "Left")
    cellar = w.listing("Cellar")
    moved_door = LockAssignment.objects.get(listing=garden, device__name="Garden door")
    LockAssignment.objects.filter(pk=moved_door.pk).update(listing=cellar)
    w.stay(cellar, "Joined", planned=False)

    attic = w.listing("Attic")
    extended = w.stay(attic, "Extended")
    AccessOverride.objects.create(
        reservation=extended,
        assignment=LockAssignment.objects.get(listing=attic, device=w.gate),
        starts_at=extended.window[0] - 3 * HOUR,
    )
    w.stay(attic, "Next door", days=4, planned=False)
    w.stay(attic, "Fresh", days=12, planned=False)
    ended = w.stay(attic, "Ended early", days=0, nights=3)
    Reservation.objects.filter(pk=ended.pk).update(ended_at=START + HOUR)
    return sorted(Reservation.objects.values_list("pk", flat=True))


def snapshot(codes_before: dict[str, str], heard: list) -> dict:
    """What a re-plan decided, in terms that do not depend on random codes: a code is
    the holder's current one, the one it held before, or none."""
    current = {c.reservation.guest_name: c.value for c in ReservationCode.objects.all()}
    turnover_codes = {t.pk: t.code for t in Turnover.objects.all()}

    def holder(access):
        if access.reservation_id:
            return access.reservation.guest_name
        return f"turnover after {access.turnover.after_stay.guest_name}"

    def which(access):
        if not access.code:
            return ""
        if access.turnover_id:
            return "turnover's" if access.code == turnover_codes[access.turnover_id] else "?"
        name = access.reservation.guest_name
        if access.code == current.get(name):
            return "kept" if codes_before.get(name) == access.code else "new"
        return "stale"

    accesses = sorted(
        (
            holder(a),
            a.device.name,
            a.wanted,
            a.state,
            a.reason,
            a.starts_at,
            a.ends_at,
            a.program_at,
            a.due_at,
            a.removed_at,
            a.last_error,
            a.assignment_id,
            which(a),
        )
        for a in LockAccess.objects.select_related("reservation", "turnover__after_stay", "device")
    )
    return {
        "accesses": accesses,
        "codes": sorted(
            (c.reservation.guest_name, c.value == codes_before.get(c.reservation.guest_name))
            for c in ReservationCode.objects.select_related("reservation")
        ),
        "turnovers": sorted(
            (
                t.after_stay.guest_name,
                t.next_stay.guest_name if t.next_stay_id else "",
                t.starts_at,
                t.ends_at,
                t.state,
                t.impossible,
                bool(t.code),
            )
            for t in Turnover.objects.select_related("after_stay", "next_stay")
        ),
        "stays": sorted(Reservation.objects.values_list("guest_name", "prearrival_check_at")),
        "overrides": sorted(
            AccessOverride.objects.values_list("reservation__guest_name", "starts_at", "ends_at")
        ),
        "events": sorted(heard),
    }


def replanned(ids, replan, django_capture_on_commit_callbacks) -> dict:
    """Re-plan the stays with `replan` an hour later, tell what was announced, and undo
    it all, so that the other planner starts from the same world."""
    codes_before = {c.reservation.guest_name: c.value for c in ReservationCode.objects.all()}
    heard = []

    def hear(sender, *, event, reservation_id, **kwargs):
        heard.append((event, Reservation.objects.get(pk=reservation_id).guest_name))

    signals.stay_event.connect(hear, dispatch_uid="tests.bulk_replan")
    try:
        with transaction.atomic():
            with (
                time_machine.travel(START + HOUR, tick=False),
                django_capture_on_commit_callbacks(execute=True),
            ):
                replan(ids)
            result = snapshot(codes_before, heard)
            transaction.set_rollback(True)
    finally:
        signals.stay_event.disconnect(dispatch_uid="tests.bulk_replan")
    return result


def test_the_bulk_planner_plans_a_mixed_set_as_the_one_by_one_planner(
    django_capture_on_commit_callbacks,
):
    with time_machine.travel(START, tick=False):
        ids = mixed_world()

    one_by_one = replanned(
        ids,
        lambda ids: planning.stays_replan_one_by_one(reservation_ids=ids),
        django_capture_on_commit_callbacks,
    )
    bulk = replanned(
        ids, lambda ids: stays_replan(reservation_ids=ids), django_capture_on_commit_callbacks
    )

    assert bulk == one_by_one
    # The world is one where each kind of change happened (else the test compares little).
    accesses = one_by_one["accesses"]
    reasons = {row[4] for row in accesses}
    assert {
        LockAccess.Reason.CANCELLED,
        LockAccess.Reason.MOVED,
        LockAccess.Reason.VERIFICATION_REVOKED,
        LockAccess.Reason.NONE,
    } <= reasons
    states = {row[3] for row in accesses}
    assert {LockAccess.State.HELD, LockAccess.State.PLANNED, LockAccess.State.REVOKED} <= states
    # Codes at the provider leave their locks through the worker (due now, not wanted).
    assert any(not row[2] and row[3] == LockAccess.State.CONFIRMED for row in accesses)
    assert {row[12] for row in accesses} >= {"kept", "new", "turnover's"}
    assert any(o[1] is not None for o in one_by_one["overrides"])
    assert any(row[0].startswith("turnover after") for row in accesses)
    assert {event for event, _ in one_by_one["events"]} == {
        signals.CODE_GENERATED,
        signals.CODE_CHANGED,
        signals.CODE_REVOKED,
    }


def test_the_new_codes_of_a_bulk_re_plan_never_share_a_door_at_the_same_time():
    """Stays planned together on one shared gate each get a code of their own there."""
    w = World()
    ids = []
    with time_machine.travel(START, tick=False):
        for i in range(30):
            listing = w.listing(f"Flat {i}", code_length=4)
            ids.append(w.stay(listing, f"Guest {i}", planned=False).pk)
        stays_replan(reservation_ids=ids)
    on_gate = list(
        LockAccess.objects.filter(device=w.gate, wanted=True).values_list("code_digest", flat=True)
    )
    assert len(on_gate) == 30
    assert len(set(on_gate)) == 30


def world_of(size: int) -> list[int]:
    """`size` listings on one gate, each with a stay: fresh, planned and moved, held,
    cancelled, in turn."""
    w = World()
    ids = []
    for i in range(size):
        listing = w.listing(f"Flat {i}")
        kind = i % 4
        stay = w.stay(
            listing,
            f"Guest {i}",
            days=2 + i % 5,
            planned=kind != 0,
            verification_required=kind == 2,
        )
        if kind == 1:
            Reservation.objects.filter(pk=stay.pk).update(check_out=stay.check_out + DAY)
        if kind == 3:
            Reservation.objects.filter(pk=stay.pk).update(status=Reservation.Status.CANCELLED)
        ids.append(stay.pk)
    return ids


@pytest.mark.parametrize("size", [4, 40])
def test_a_bulk_re_plan_reads_and_writes_in_a_few_queries_whatever_the_number_of_stays(
    size, django_assert_max_num_queries
):
    with time_machine.travel(START, tick=False):
        ids = world_of(size)
    with (
        time_machine.travel(START + HOUR, tick=False),
        django_assert_max_num_queries(15),
    ):
        assert stays_replan(reservation_ids=ids) == size
    planned = LockAccess.objects.filter(reservation_id__in=ids, wanted=True)
    assert planned.count() == 2 * (size - size // 4)


def test_the_events_of_a_bulk_re_plan_are_told_at_once_when_the_broker_is_down(
    monkeypatch, django_capture_on_commit_callbacks
):
    """One cluster task tells a chunk's events; when Redis cannot take it, the guests'
    emails and webhooks are not lost: the receivers hear them at once."""
    import django_q.tasks
    from redis.exceptions import ConnectionError as RedisDown

    def broker_down(*args, **kwargs):
        raise RedisDown("Redis is restarting")

    monkeypatch.setattr(django_q.tasks, "async_task", broker_down)
    w = World()
    listing = w.listing("Harbour")
    with time_machine.travel(START, tick=False):
        ids = [w.stay(listing, f"Guest {i}", days=2 + 3 * i, planned=False).pk for i in range(3)]
    heard = []
    signals.stay_event.connect(
        lambda sender, *, event, reservation_id, **kw: heard.append((event, reservation_id)),
        dispatch_uid="tests.bulk_replan_down",
        weak=False,
    )
    try:
        with django_capture_on_commit_callbacks(execute=True):
            stays_replan(reservation_ids=ids)
    finally:
        signals.stay_event.disconnect(dispatch_uid="tests.bulk_replan_down")
    assert sorted(heard) == [(signals.CODE_GENERATED, pk) for pk in ids]
