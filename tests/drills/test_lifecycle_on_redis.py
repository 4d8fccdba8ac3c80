"""The code lifecycle with two qcluster processes on Redis and PostgreSQL, end to end.

A PMS books and cancels stays through the API (gunicorn); the two clusters share the work
through Redis. A stay under way gets its code on both its locks at once, a stay starting in
a few seconds gets it at its check-in and loses it at its check-out, a cancellation revokes
the code within seconds, and a stay days ahead puts nothing on the locks yet.
"""

import datetime
import time

import pytest
from django.utils import timezone

from reservations.models import LockAccess, LockAccessLog, Reservation

from .conftest import DRILLS_ONE_AT_A_TIME, POSTGRESQL_ONLY, door_problems, settle, wait_for

pytestmark = [POSTGRESQL_ONLY, pytest.mark.slow, DRILLS_ONE_AT_A_TIME]

Log = LockAccessLog.Kind


def _codes_of(stack, stay) -> list[dict]:
    names = [f"KS{stay.id}-" for _ in (0,)]
    return [
        c
        for c in stack.fake.state()["access_codes"]
        if any(c["name"].startswith(n) for n in names)
    ]


def _first(access_pk: int, kind: str) -> datetime.datetime:
    return (
        LockAccessLog.objects.filter(access_id=access_pk, kind=kind, source="worker")
        .order_by("at")
        .values_list("at", flat=True)
        .first()
    )


def test_two_clusters_on_redis_carry_stays_through_their_life(make_stack):
    stack = make_stack(listings=3)
    flat_1, flat_2, flat_3 = stack.listings

    booked = time.monotonic()
    under_way = stack.book(flat_1, starts_in=-3600, lasts=86400, guest="Under Way")
    # Check-in 30 s from now, check-out 40 s later: both steps fall due during the test.
    short = stack.book(flat_2, starts_in=30, lasts=40, guest="Short Stay")
    to_cancel = stack.book(flat_3, starts_in=-600, lasts=86400, guest="Cancelled Soon")
    ahead = stack.book(flat_3, starts_in=3 * 86400, lasts=86400, guest="Days Ahead")
    stays = [under_way, short, to_cancel, ahead]

    # The stays under way: on both locks within seconds (the booking queued the work).
    wait_for(
        "the codes of the stays under way on their locks",
        lambda: len(_codes_of(stack, under_way)) == 2 and len(_codes_of(stack, to_cancel)) == 2,
        timeout=30,
    )
    programmed_in = time.monotonic() - booked
    assert _codes_of(stack, short) == [] and _codes_of(stack, ahead) == []

    # Cancelled: the code leaves both locks within seconds, revoked.
    cancelled = time.monotonic()
    assert stack.cancel(to_cancel).status_code == 200
    wait_for(
        "the cancelled stay's code off its locks",
        lambda: not _codes_of(stack, to_cancel),
        timeout=20,
        every=0.2,
    )
    revoked_in = time.monotonic() - cancelled
    wait_for(
        "the cancelled stay's lock accesses revoked",
        lambda: (
            set(
                LockAccess.objects.filter(reservation_id=to_cancel.id).values_list(
                    "state", flat=True
                )
            )
            == {LockAccess.State.REVOKED}
        ),
        timeout=20,
    )

    # The short stay: on its locks at check-in (not before), gone after check-out.
    accesses = list(LockAccess.objects.filter(reservation_id=short.id))
    program_at = accesses[0].program_at
    ends_at = accesses[0].ends_at
    wait_for(
        "the short stay's code on its locks",
        lambda: len(_codes_of(stack, short)) == 2,
        timeout=40 + 75,
    )
    wait_for(
        "the short stay's code off its locks",
        lambda: not _codes_of(stack, short),
        timeout=max((ends_at - timezone.now()).total_seconds(), 0) + 75,
    )
    settle(stack, stays, timeout=60)

    for access in accesses:
        requested = _first(access.pk, Log.REQUESTED)
        removed = _first(access.pk, Log.REMOVED)
        assert program_at <= requested < program_at + datetime.timedelta(seconds=75)
        assert ends_at <= removed < ends_at + datetime.timedelta(seconds=75)
        access.refresh_from_db()
        assert access.state == LockAccess.State.REMOVED
    assert Reservation.objects.get(pk=to_cancel.id).status == Reservation.Status.CANCELLED
    assert (
        not LockAccess.objects.filter(reservation_id=ahead.id)
        .exclude(state=LockAccess.State.PLANNED)
        .exists()
    )

    # Both clusters took tasks from Redis.
    for cluster in stack.clusters:
        assert cluster.alive(), cluster.output()
        assert "Processed" in cluster.output(200_000), f"{cluster.name} did no work"
    # The web's probes: ready (database, Redis) and no backlog.
    ready = stack.health("ready")
    assert ready.status_code == 200 and ready.json()["checks"]["broker"] == "ok", ready.text
    assert stack.health("backlog").status_code == 200
    assert door_problems(stack, stays) == []
    print(
        f"on the locks {programmed_in:.1f} s after booking; revoked {revoked_in:.1f} s "
        "after the cancellation"
    )
    assert revoked_in < 10
