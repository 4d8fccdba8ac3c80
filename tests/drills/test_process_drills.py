"""Fault drills on Keystay's own processes, with two qclusters on Redis and PostgreSQL.

- a worker killed (SIGKILL) in the middle of a step: one cluster dies whole, as with its
  machine, and the other loses its worker processes, which its sentinel starts again;
- every database connection dropped under the workers and the web (pg_terminate_backend);
- Redis killed and started again empty, with a cancellation and a booking meanwhile.

Afterwards every code is right on every lock, none is there twice, no revocation is lost
and no step stays overdue (conftest.door_problems). The provider answers slowly (2 s a
call) so that steps are in flight when the fault strikes.
"""

import os
import signal
import time

import pytest
from django.db import connection
from django.utils import timezone

from reservations.models import LockAccess

from .conftest import (
    DRILLS_ONE_AT_A_TIME,
    LEASE_SECONDS,
    POSTGRESQL_ONLY,
    door_problems,
    settle,
    wait_for,
)

pytestmark = [POSTGRESQL_ONLY, pytest.mark.slow, DRILLS_ONE_AT_A_TIME]

SLOW_PROVIDER_MS = 2000


def _claimed_now() -> list[int]:
    """Lock accesses a worker is working on right now (a live lease)."""
    return list(
        LockAccess.objects.filter(claimed_until__gt=timezone.now()).values_list("pk", flat=True)
    )


def _book_under_way(stack, count: int) -> list:
    return [
        stack.book(listing, starts_in=-600, lasts=86400, guest=f"Guest {number}")
        for number, listing in enumerate(stack.listings[:count], start=1)
    ]


def test_workers_killed_mid_step(make_stack):
    stack = make_stack(listings=3, latency_ms=SLOW_PROVIDER_MS)
    stays = _book_under_way(stack, 3)
    # A step takes two slow calls: the kill lands well inside the one seen claimed.
    in_flight = wait_for("a step in flight", _claimed_now, timeout=60, every=0.05)

    # Cluster 1 dies whole (its machine went down); cluster 2 loses every worker process
    # (its sentinel, which survives, starts new ones). Whoever held the step is dead.
    first, second = stack.clusters
    # qcluster -> its sentinel -> workers, monitor and pusher.
    workers = second.descendants(depth=2)
    assert workers, second.output()
    first.kill()
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    # The step seen claimed was still held by a worker now dead.
    assert LockAccess.objects.filter(pk__in=in_flight, claimed_until__gt=timezone.now()).exists()
    stack.start_cluster("qcluster-1-again")

    # The dead workers' leases run out, and the steps are carried out once, by others.
    settle(stack, stays, timeout=120)
    print(f"doors right {time.monotonic() - killed_at:.0f} s after the kill")
    assert second.alive(), second.output()
    assert len(second.descendants(depth=2)) >= len(workers), "no workers started again"
    for access in LockAccess.objects.filter(pk__in=in_flight):
        assert access.state in LockAccess.AT_PROVIDER_STATES, access.state
    assert time.monotonic() - killed_at > LEASE_SECONDS  # not before the leases ran out
    assert door_problems(stack, stays) == []


def test_database_connections_dropped_under_the_workers(make_stack):
    stack = make_stack(listings=3, latency_ms=SLOW_PROVIDER_MS)
    stays = _book_under_way(stack, 2)
    wait_for("a step in flight", _claimed_now, timeout=60, every=0.05)

    dropped = 0
    for _ in range(2):  # twice, a few seconds apart: in the middle of different steps
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            dropped += cursor.fetchone()[0]
        time.sleep(3)
    assert dropped >= 2, "no worker held a database connection"

    # The web reconnects at its next request; so do the workers at their next task.
    assert stack.health("ready").status_code == 200
    cancelled = stays[0]
    assert stack.cancel(cancelled).status_code == 200
    late = stack.book(stack.listings[2], starts_in=-60, lasts=86400, guest="Booked After")
    stays.append(late)

    settle(stack, stays, timeout=120)
    assert set(
        LockAccess.objects.filter(reservation_id=cancelled.id).values_list("state", flat=True)
    ) == {LockAccess.State.REVOKED}
    for cluster in stack.clusters:
        assert cluster.alive(), cluster.output()
    assert door_problems(stack, stays) == []


def test_redis_restarted_with_a_cancellation_and_a_booking_meanwhile(make_stack):
    stack = make_stack(listings=3)
    before = _book_under_way(stack, 2)
    wait_for(
        "the first stays on their locks",
        lambda: (
            LockAccess.objects.filter(
                reservation_id__in=[s.id for s in before], provider_id__gt=""
            ).count()
            == 4
        ),
        timeout=30,
    )

    stack.redis.kill()
    # The load balancer's probe: this web process cannot reach the broker; it is alive.
    ready = stack.health("ready")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": "ok", "broker": "fail"}
    assert stack.health("").status_code == 200
    # A PMS goes on working: the change is saved, its work waits in the database.
    cancelled = before[0]
    response = stack.cancel(cancelled)
    assert response.status_code == 200, response.text
    during = stack.book(stack.listings[2], starts_in=-60, lasts=86400, guest="Booked During")
    time.sleep(5)
    stack.redis.start()  # empty: whatever was queued is gone

    stays = [*before, during]
    settle(stack, stays, timeout=120)
    assert set(
        LockAccess.objects.filter(reservation_id=cancelled.id).values_list("state", flat=True)
    ) == {LockAccess.State.REVOKED}
    assert stack.health("ready").status_code == 200
    for cluster in stack.clusters:
        assert cluster.alive(), cluster.output()
    assert door_problems(stack, stays) == []
