"""django-q2 entry points: thin, called with ids, delegating to services."""

import logging
import time

from django.utils import timezone

from core.text import counted
from locks.gateway import ProviderError
from locks.models import LockProviderConnection
from locks.services import devices_unqueue_for_reconcile
from locks.tasks import connections_with_a_key

from .alerts import double_booking_alerts_expire, verification_alerts_expire
from .events import events_reconcile
from .prearrival import prearrival_run_due
from .provisioning import (
    due_lock_ids,
    process_due,
    provisioning_concurrency,
    seconds_to_next_due,
)
from .readback import lock_reconcile_by_id, locks_reconcile_chunk, reconcile_pass

logger = logging.getLogger(__name__)

# The sweep runs every minute and keeps looking for due work for most of that minute,
# sleeping until the nearest due instant between looks (SWEEP_PAUSE at most), so that a
# step is carried out within a second or two of its due instant. django-q2's scheduler
# may start a schedule up to 30 s late: a sweep past its SWEEP_SECONDS still waits for a
# step falling due before the next sweep is sure to run (HANDOVER_SECONDS after this one
# started), so that no step falls between two sweeps.
SWEEP_SECONDS = 45
SWEEP_PAUSE = 5
HANDOVER_SECONDS = 90
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


def process_standing(standing_id: int) -> int:
    """Run the due steps now after a standing code's plan changed (an offboarding's
    fifty removals among them). Not scoped to the one holder: provisioning has no
    standing scope, and every due step is worked lock by lock, each lock under its own
    lease and retried on its own, so this run holds back no other work."""
    return process_due()


def sweep() -> int:
    """The periodic sweep: carry out due steps for most of a minute, calling in other
    workers when the backlog is large."""
    return _sweep(helpers=SWEEP_HELPERS)


def sweep_helper() -> int:
    """Another worker's share of a large backlog: due steps until none is left."""
    return _sweep(helpers=0, until_idle=True)


def _sweep(*, helpers: int, until_idle: bool = False) -> int:
    worked = 0
    started = time.monotonic()
    deadline = started + SWEEP_SECONDS
    handover = started + HANDOVER_SECONDS
    # Well inside django-q2's 120 s task timeout, however slow the provider.
    stop_after = handover + 5
    while True:
        if helpers:
            called = _call_in_helpers(helpers)
            helpers = 0 if called else helpers
        done = process_due(stop_after=stop_after)
        worked += done
        if until_idle and (not done or time.monotonic() > deadline):
            return worked  # a helper leaves its worker to other tasks
        if done and time.monotonic() <= deadline:
            continue  # more may be due behind what this pass took
        wait = _wait(deadline=deadline, handover=handover)
        if wait is None:
            return worked
        time.sleep(wait)


def _wait(*, deadline: float, handover: float) -> float | None:
    """How long the sweep sleeps before its next look (None: it ends now).

    Until the nearest due instant, SWEEP_PAUSE at most (a step made due at once, such as
    a cancellation, is taken at the next look). Past its time, the sweep stays only while
    a step falls due before the next sweep is sure to run (`handover`)."""
    from django.utils import timezone

    now = time.monotonic()
    end = deadline if now < deadline else handover
    wait = seconds_to_next_due(now=timezone.now(), longest=max(end - now, 0.0))
    if now >= deadline and wait >= end - now:
        return None
    return min(wait, SWEEP_PAUSE)


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


def reconcile_lock_chunk(device_ids: list[int]) -> str:
    """Read back a chunk of the locks a pass queued (each lock under its own lease)."""
    outcomes = locks_reconcile_chunk(device_ids)
    return ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))


def reconcile_locks() -> str:
    """The periodic read-back: the locks whose turn it is, in chunks, a task each, so that
    the cluster's workers read them side by side; a lock still queued from an earlier
    pass is not queued again."""
    from django_q.tasks import async_task

    chunks = reconcile_pass()
    for number, chunk in enumerate(chunks):
        try:
            async_task("reservations.tasks.reconcile_lock_chunk", chunk, group="reconcile")
        except Exception:
            # The broker is down: the chunks not queued are let go for the next pass.
            unqueued = [device_id for rest in chunks[number:] for device_id in rest]
            devices_unqueue_for_reconcile(device_ids=unqueued)
            raise
    return f"{counted(sum(map(len, chunks)), 'lock')} queued in {counted(len(chunks), 'chunk')}"


def listing_alerts_expire() -> int:
    """Resolve the alerts about stays that are over: double bookings, and guests not
    verified (their stay over or cancelled)."""
    now = timezone.now()
    return double_booking_alerts_expire(now=now) + verification_alerts_expire(now=now)


def prearrival_checks() -> int:
    """The periodic pre-arrival check: every stay whose check is due (each claimed), and
    every stay still awaiting its guest's verification whose alert time has come."""
    from .verification import verification_alerts_run

    return prearrival_run_due() + verification_alerts_run()


def send_stay_events(event: str, reservation_ids: list[int], at) -> None:
    """The stay events of a bulk re-plan (reservations.signals.announce_many)."""
    from .signals import send_stay_events as send

    send(event, reservation_ids, at)
