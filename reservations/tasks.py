"""django-q2 entry points: thin, called with ids, delegating to services."""

import logging
import time

from locks.gateway import ProviderError
from locks.models import LockProviderConnection
from locks.tasks import connections_with_a_key

from .events import events_reconcile
from .prearrival import prearrival_run_due
from .provisioning import due_lock_ids, process_due, provisioning_concurrency
from .readback import lock_reconcile_by_id, locks_due_for_reconcile

logger = logging.getLogger(__name__)

# The sweep runs every minute and keeps looking for due work for most of that minute,
# so a step is carried out within seconds of its due instant even though django-q2's
# scheduler itself may start a schedule up to 30 s late.
SWEEP_SECONDS = 45
SWEEP_PAUSE = 5
# A backlog larger than one worker clears quickly (thousands of codes falling due at the
# same check-in hour) calls in up to this many other workers, wherever they run.
SWEEP_HELPERS = 8
# One worker works KEYSTAY_PROVISIONING_CONCURRENCY locks at once; a backlog of more than
# this many rounds of them is worth another worker.
ROUNDS_PER_WORKER = 4


def process_reservation(reservation_id: int) -> int:
    """Run one reservation's due steps now (enqueued when its plan changes)."""
    return process_due(reservation_id=reservation_id)


def process_turnover(turnover_id: int) -> int:
    """Run one turnover's due steps now (enqueued when its plan changes)."""
    return process_due(turnover_id=turnover_id)


def sweep() -> int:
    """The periodic sweep: carry out due steps for most of a minute, calling in other
    workers when the backlog is large."""
    return _sweep(helpers=SWEEP_HELPERS)


def sweep_helper() -> int:
    """Another worker's share of a large backlog: due steps until none is left."""
    return _sweep(helpers=0, until_idle=True)


def _sweep(*, helpers: int, until_idle: bool = False) -> int:
    worked = 0
    deadline = time.monotonic() + SWEEP_SECONDS
    # Well inside django-q2's 120 s task timeout, however slow the provider.
    stop_after = deadline + 30
    while True:
        if helpers:
            called = _call_in_helpers(helpers)
            helpers = 0 if called else helpers
        done = process_due(stop_after=stop_after)
        worked += done
        if until_idle and not done:
            return worked
        if done:
            if time.monotonic() > deadline:
                return worked
            continue  # more may be due behind what this pass took
        if time.monotonic() + SWEEP_PAUSE > deadline:
            return worked
        time.sleep(SWEEP_PAUSE)


def _call_in_helpers(most: int) -> int:
    """Enqueue helpers for a backlog this worker alone would take a while to clear; the
    locks' leases share the work out. Returns how many were enqueued."""
    from django.utils import timezone
    from django_q.tasks import async_task

    per_worker = provisioning_concurrency() * ROUNDS_PER_WORKER
    backlog = len(due_lock_ids(now=timezone.now(), limit=per_worker * (most + 1)))
    wanted = min(most, -(-backlog // per_worker) - 1)
    for _ in range(wanted):
        async_task("reservations.tasks.sweep_helper", group="lifecycle")
    if wanted > 0:
        logger.info("%s locks with due steps: %s more workers called in", backlog, wanted)
    return max(wanted, 0)


def reconcile_events(connection_id: int) -> str:
    """List the connection's events at Seam since the last listing; record the new ones."""
    connection = LockProviderConnection.objects.filter(pk=connection_id).first()
    if connection is None:
        return "connection gone"
    try:
        outcomes = events_reconcile(connection=connection)
    except ProviderError as error:
        # Kept on the connection; the next run starts from the same point.
        logger.warning("Events of connection %s not listed: %s", connection_id, error.message)
        return f"failed: {error.message}"
    return ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())) or (
        "nothing new"
    )


def reconcile_all_events() -> str:
    """The periodic reconcile: each connection alone, so that one failure holds up none."""
    results = [
        f"{connection_id}: {reconcile_events(connection_id)}"
        for connection_id in connections_with_a_key()
    ]
    return "; ".join(results) or "no connections"


def reconcile_lock(device_id: int) -> str:
    """Read one lock's codes back from the provider and repair drift."""
    return lock_reconcile_by_id(device_id)


def reconcile_locks() -> str:
    """The periodic read-back: one task per lock whose turn it is, so that a slow or
    failing lock holds up no other (workers take them in parallel)."""
    from django_q.tasks import async_task

    due = locks_due_for_reconcile()
    for device_id in due:
        async_task("reservations.tasks.reconcile_lock", device_id, group="reconcile")
    return f"{len(due)} locks queued"


def prearrival_checks() -> int:
    """The periodic pre-arrival check: every stay whose check is due (each claimed)."""
    return prearrival_run_due()
