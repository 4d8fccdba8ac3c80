"""The provisioning worker: carries out each lock's plan at its due instants.

As in healthchecks' sendalerts: `process_due` finds due rows (`LockAccess.due_at`),
takes each lock with its lease (locks.pacing) and each row with a compare-and-set claim
on `claimed_until`/`claim_token` (so two workers never work one row), calls Seam outside
any database lock, and records the outcome, re-reading the plan in case a re-plan
changed it meanwhile. Every state a row takes goes through reservations.access_states.

A lock access is held by a stay or by a turnover (a crew member's code); the worker reads
only the lock access itself (its device, code, window, `wanted`, `reason`) except in three
places, which are where the holder matters:
- `_access_name`/`_name_prefix`: codes are named `KS<reservation>-<device> <guest>` for a
  stay and `KT<turnover>-<device> <crew member>` for a turnover, so that Keystay finds its
  code again after an unanswered create (and the read-back recognises both by OWN_NAME).
- `_duplicate_refused`: a duplicate code is answered by giving the stay a new code
  (before its guest has it) or the turnover a new code (reservations.turnovers).
- `enqueue_processing(reservation_id)`/`enqueue_turnover_processing(turnover_id)` and
  `process_due(reservation_id=..., turnover_id=...)` scope a run by holder.
"""

from __future__ import annotations

import datetime
import itertools
import logging
import random
import re
import threading
import time
import uuid
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection as db_connection
from django.db import connections as db_connections
from django.db import transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Greatest
from django.utils import timezone

from core.row_update import update_row
from locks import pacing
from locks import services as lock_services
from locks.gateway import ProviderError, SeamGateway
from locks.models import Device

from . import access_states, signals
from .access_states import access_log
from .alerts import alert_open, alert_resolve
from .models import (
    OPEN_END,
    DeviceAlert,
    LockAccess,
    LockAccessLog,
    Reservation,
    ReservationCode,
)
from .planning import (
    _at_provider,
    _code_is_kept,
    _ensure_code,
    _guest_locks,
    _needs_update,
    _next_due,
    gone_state,
    reservation_replan,
)
from .turnovers import turnover_replan

logger = logging.getLogger(__name__)

# A claimed row belongs to its worker this long (LOCK_STEP_LEASE_SECONDS, 5 minutes).
LEASE = datetime.timedelta(seconds=settings.LOCK_STEP_LEASE_SECONDS)
RETRY_BASE = datetime.timedelta(seconds=30)
RETRY_MAX = datetime.timedelta(minutes=30)


def retry_delay(attempts: int) -> datetime.timedelta:
    """How long a lock waits before the next try after `attempts` failures."""
    return min(RETRY_BASE * 2 ** max(attempts - 1, 0), RETRY_MAX)


CONFIRM_REMOVAL_AFTER = datetime.timedelta(minutes=1)

State = LockAccess.State
Reason = LockAccess.Reason
AT_PROVIDER = LockAccess.AT_PROVIDER_STATES
Log = LockAccessLog.Kind
FINAL_STATES = LockAccess.FINAL_STATES


def _access_name(access: LockAccess) -> str:
    """Named so that Keystay can find its code again after an unanswered create."""
    prefix = _name_prefix(access)
    limit = 40
    for constraint in access.device.code_constraints:
        if constraint.get("constraint_type") == "name_length" and constraint.get("max_length"):
            limit = constraint["max_length"]
    if access.turnover_id is not None:
        who = access.turnover.holder_name
    elif access.standing_id is not None:
        who = access.standing.holder_name
    else:
        who = access.reservation.guest_name
    return f"{prefix}{who}"[:limit].rstrip()


def _name_prefix(access: LockAccess) -> str:
    if access.turnover_id is not None:
        return f"KT{access.turnover_id}-{access.device_id} "
    if access.standing_id is not None:
        return f"KC{access.standing_id}-{access.device_id} "
    return f"KS{access.reservation_id}-{access.device_id} "


# Any Keystay code's name (see _access_name): S for a stay, T for a turnover, C for a
# crew member's standing code; the holder's id and the device's.
OWN_NAME = re.compile(r"^K([STC])(\d+)-(\d+) ")
HOLDER_KINDS = {"S": "reservation", "T": "turnover", "C": "standing"}


def holder_of_name(name: str) -> tuple[str, int, int] | None:
    """("reservation" | "turnover" | "standing", holder id, device id) of a Keystay
    code's name."""
    match = OWN_NAME.match(name or "")
    if match is None:
        return None
    kind = HOLDER_KINDS[match.group(1)]
    return kind, int(match.group(2)), int(match.group(3))


def _claim(access: LockAccess) -> str | None:
    """Take a due row read with its device and holder, and begin its step (the state the
    step works in, `_working_state`) in the same write; its token, or None when the row
    is no longer as read (another worker took it, a re-plan changed it)."""
    now = timezone.now()
    token, state, until = uuid.uuid4().hex, _working_state(access, now), now + LEASE
    if not access_states.claim(access, to=state, token=token, until=until, now=now):
        return None
    # The row as the claim left it in the database, for recording the outcome on it
    # (_record_as_claimed): the step may change `access` in memory meanwhile (an adopted
    # code's ids), and `access` itself keeps the state read.
    as_claimed = {name: getattr(access, name) for name in _RECORDED}
    as_claimed.update(state=state, claim_token=token, claimed_until=until)
    access._claimed = (token, as_claimed, access.updated_at)
    return token


def _working_state(access: LockAccess, now) -> str:
    """The state a row takes while the worker carries out its step."""
    if _leaving(access):
        return State.REMOVING
    if access.provider_id or now >= access.program_at:
        return access.state if access.state in AT_PROVIDER else State.PROGRAMMING
    return access.state


class _Gateways:
    """One Seam client per connection for one processing run, shared by its threads
    (an httpx client is safe to share; a Retry-After is noted per thread)."""

    def __init__(self):
        self._open: dict[int, SeamGateway] = {}
        self._lock = threading.Lock()

    def for_device(self, device: Device) -> SeamGateway:
        # By the connection's id: its row (and its key) is read once per run, not per step.
        with self._lock:
            if device.connection_id not in self._open:
                self._open[device.connection_id] = SeamGateway.for_connection(device.connection)
            return self._open[device.connection_id]

    def close(self) -> None:
        for gateway in self._open.values():
            gateway.close()


# A worker holding a lock works at most this many of its steps before letting it go, so
# that a lock with a long queue comes back later rather than holding a thread.
STEPS_PER_TURN = 20
TURNS_PER_RUN = 3
# How often a run reads again which locks are due: what fell due meanwhile takes its
# place by urgency, ahead of a backlog with time to spare.
LOOK_AGAIN_SECONDS = 1.0
RENEW_AFTER = pacing.LEASE.total_seconds() / 2


def provisioning_concurrency() -> int:
    """How many locks one processing run works at once (KEYSTAY_PROVISIONING_CONCURRENCY)."""
    return max(1, int(getattr(settings, "KEYSTAY_PROVISIONING_CONCURRENCY", 1)))


def _due(now) -> QuerySet[LockAccess]:
    """Steps due at `now` that no worker holds, on locks that may be called now."""
    return (
        LockAccess.objects.filter(due_at__lte=now)
        .filter(LockAccess.unclaimed(now))
        # A lock the provider asked Keystay to slow down for waits; the others go on.
        .filter(Q(device__backoff_until__isnull=True) | Q(device__backoff_until__lte=now))
    )


def due_reservation_ids(device_id: int, now) -> list[int]:
    """The stays with a step due on this lock that no worker holds."""
    return [pk for kind, pk in due_holders(device_id, now) if kind == "reservation"]


def due_holders(device_id: int, now) -> set[tuple[str, int]]:
    """The holders (LockAccess.holder_key) with a step due on this lock that no worker
    holds."""
    rows = _due(now).filter(device_id=device_id)
    return {
        ("turnover", turnover_id)
        if turnover_id
        else ("standing", standing_id)
        if standing_id
        else ("reservation", reservation_id)
        for reservation_id, turnover_id, standing_id in rows.values_list(
            "reservation_id", "turnover_id", "standing_id"
        ).distinct()
    }


# Which due step goes first. A code leaving a lock it should no longer open (cancelled,
# moved, the lock taken off the stay) before anything else; then the nearest deadline: a
# code to program is needed by the start of its window (it is programmed its lead time
# ahead, with time to spare), anything else (a removal at check-out, a change to a code in
# use, a late code) at its due instant. A backlog of codes for tomorrow's arrivals never
# holds up today's check-outs.
STEP_ORDER = ("wanted", Greatest("due_at", "starts_at"), "due_at", "pk")


def due_lock_ids(
    *,
    now,
    reservation_id: int | None = None,
    turnover_id: int | None = None,
    limit: int = 500,
) -> list[int]:
    """Locks with steps due at `now` that no worker holds, in STEP_ORDER of their first
    step (looking at `limit` steps at most); of one stay's or one turnover's codes."""
    return [device_id for device_id, *_ in _due_locks(now, reservation_id, turnover_id, limit)]


def _due_locks(
    now, reservation_id: int | None, turnover_id: int | None, limit: int
) -> list[tuple[int, tuple, int]]:
    """(lock, its first step's urgency, how many of its due steps were seen) of
    due_lock_ids, in STEP_ORDER."""
    due = _due(now).filter(pacing.lease_free(now, "device__"))
    if reservation_id is not None:
        due = due.filter(reservation_id=reservation_id)
    if turnover_id is not None:
        due = due.filter(turnover_id=turnover_id)
    rows = (
        due.order_by(*STEP_ORDER)
        .annotate(_starts=Greatest("due_at", "starts_at"))
        .values_list("device_id", "wanted", "_starts", "due_at")[:limit]
    )
    first: dict[int, tuple] = {}
    steps: Counter[int] = Counter()
    for device_id, *urgency in rows:
        first.setdefault(device_id, tuple(urgency))
        steps[device_id] += 1
    return [(device_id, urgency, steps[device_id]) for device_id, urgency in first.items()]


def _spread(locks: list[tuple[int, tuple, int]], seed: int) -> list[int]:
    """The locks in order of urgency, those equally urgent in a random order of this
    run's own (`seed`): workers reading the same queue at once (a backlog that fell due
    at one instant ties on urgency) then start on different locks rather than racing for
    the same leases. The same order at each of the run's looks, so that the locks next
    in line stay next in line (their first steps, read once, are kept)."""
    spread: list[int] = []
    for _urgency, group in itertools.groupby(locks, key=lambda lock: lock[1]):
        spread += sorted((device_id for device_id, *_ in group), key=lambda d: hash((seed, d)))
    return spread


def seconds_to_next_due(*, now, longest: float) -> float:
    """How long a waiting worker may sleep: until the nearest instant a step falls due
    (its due instant, a lock's pause ending), `longest` at most.

    As healthchecks' sendalerts: the worker wakes for the next due instant rather than
    looking every few seconds; `longest` bounds the wait (a safety net for work it could
    not foresee, e.g. a step whose claim ran out)."""
    nearest = (
        LockAccess.objects.filter(due_at__gt=now)
        .order_by("due_at")
        .values_list("due_at", flat=True)
        .first()
    )
    if nearest is None:
        return longest
    return max(0.0, min((nearest - now).total_seconds(), longest))


def process_due(
    *,
    now=None,
    limit: int = 500,
    reservation_id: int | None = None,
    turnover_id: int | None = None,
    stop_after: float | None = None,
    concurrency: int | None = None,
) -> int:
    """Carry out every due step; returns how many rows were worked on.

    Works lock by lock: each lock with due steps (of this reservation, with
    reservation_id) is taken with its lease (locks.pacing), its due steps carried out in
    order, then let go. Up to `concurrency` locks at once (default
    KEYSTAY_PROVISIONING_CONCURRENCY), each in a thread with its own database connection;
    a thread done with a lock takes the next one due, so that a slow lock holds up no
    other. The leases keep every other worker, in this process or another, off the locks
    this one holds. At most `limit` turns of a lock in one run.

    With stop_after (a time.monotonic() instant), claims no new row after it, so that a
    slow provider cannot keep a task running past django-q2's timeout.
    """
    threads = concurrency or provisioning_concurrency()
    queue = _DueLocks(
        now=now or timezone.now(),
        reservation_id=reservation_id,
        turnover_id=turnover_id,
        limit=limit,
        stop_after=stop_after,
        read_ahead=FIRST_STEPS_PER_THREAD * threads,
    )
    width = min(threads, queue.waiting)
    if width == 0:
        return 0
    gateways = _Gateways()
    try:
        if width == 1 or db_connection.in_atomic_block:
            # One lock at a time in this thread: a caller's open transaction holds rows
            # that other connections cannot see yet.
            return _work_locks(queue, gateways, stop_after)
        with ThreadPoolExecutor(max_workers=width, thread_name_prefix="keystay-lock") as pool:
            runs = [
                pool.submit(_in_own_thread, _work_locks, queue, gateways, stop_after)
                for _ in range(width)
            ]
            return sum(run.result() for run in runs)
    finally:
        gateways.close()


class _DueLocks:
    """The locks one processing run works, most urgent first, shared by its threads.

    Read again every second and whenever the list runs out: a step that fell due
    meanwhile (a cancellation, a check-out) takes its place by urgency, and is taken
    while a slow lock still holds its own thread.
    """

    def __init__(
        self,
        *,
        now,
        reservation_id: int | None,
        turnover_id: int | None,
        limit: int,
        stop_after,
        read_ahead: int = 4,
    ):
        self._mutex = threading.Lock()
        self._read_ahead = read_ahead
        self._reservation_id = reservation_id
        self._turnover_id = turnover_id
        self._limit = limit
        self._turns_left = limit
        self._stop_after = stop_after
        self._working: set[int] = set()
        self._turns: Counter[int] = Counter()
        self._first: dict[int, tuple[LockAccess, tuple]] = {}
        self._seed = random.getrandbits(32)
        self._read(now)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def _read(self, now) -> None:
        self._read_at = time.monotonic()
        locks = _due_locks(now, self._reservation_id, self._turnover_id, self._limit)
        urgency = {device_id: first for device_id, first, _ in locks}
        # The locks with more than one due step: the others are done after their first.
        self._several = {device_id for device_id, _, steps in locks if steps > 1}
        # A lock still due after a few turns in this run (its steps keep falling due)
        # waits for the next run rather than spinning in this one.
        self._waiting = deque(
            d
            for d in _spread(locks, self._seed)
            if d not in self._working and self._turns[d] < TURNS_PER_RUN
        )
        # The first step of the locks next in line, read in one query rather than one
        # per lock: reading a step whole costs more CPU than anything else a step does.
        # A step read at an earlier look is kept while its lock's first step is as
        # urgent as it was (the claim checks that the row is still as read); a lock
        # whose first step changed (a cancellation came first) is read afresh.
        ahead = list(self._waiting)[: self._read_ahead]
        kept = {
            device_id: (step, seen)
            for device_id in ahead
            if (cached := self._first.get(device_id)) is not None
            for step, seen in [cached]
            if seen == urgency[device_id]
        }
        fresh = _first_steps([d for d in ahead if d not in kept], now)
        self._first = kept | {d: (step, urgency[d]) for d, step in fresh.items()}

    @property
    def every_holder(self) -> bool:
        """Whether this run works every holder's steps (not one stay's or turnover's): its
        next look finds any step that fell due on a lock while the run held it."""
        return self._reservation_id is None and self._turnover_id is None

    def take(self) -> tuple[int, LockAccess | None, bool] | None:
        """The next lock to work, with its first due step if it was read already, and
        whether the lock had other due steps when it was read."""
        with self._mutex:
            if self._turns_left <= 0:
                return None
            if self._stop_after is not None and time.monotonic() > self._stop_after:
                return None
            if not self._waiting or time.monotonic() - self._read_at >= LOOK_AGAIN_SECONDS:
                self._read(timezone.now())
            if not self._waiting:
                return None
            self._turns_left -= 1
            device_id = self._waiting.popleft()
            self._working.add(device_id)
            self._turns[device_id] += 1
            first = self._first.pop(device_id, None)
            return device_id, first[0] if first else None, device_id in self._several

    def done(self, device_id: int) -> None:
        with self._mutex:
            self._working.discard(device_id)


def _work_locks(queue: _DueLocks, gateways: _Gateways, stop_after: float | None) -> int:
    worked = 0
    while (taken := queue.take()) is not None:
        device_id, first, several = taken
        try:
            worked += _work_lock(
                device_id,
                gateways,
                stop_after,
                first=first,
                several=several,
                look_again=not queue.every_holder,
            )
        except Exception:  # a lock's bug must not end the run of the others
            logger.exception("Lock %s: unexpected failure", device_id)
        finally:
            queue.done(device_id)
    return worked


def _in_own_thread(work, *args) -> int:
    try:
        return work(*args)
    finally:
        # Each thread opened its own connection: close it, or it lingers until the
        # database gives up on it.
        db_connections.close_all()


def _more_due(device_id: int, skip: set[int]) -> bool:
    """Whether the lock has another due step (not in `skip`)."""
    return _due(timezone.now()).filter(device_id=device_id).exclude(pk__in=skip).exists()


# How many of the locks next in line a run reads the first step of at once (_DueLocks),
# per thread: about what its threads take before the queue is read again (a second), so
# that a thread seldom has to read its lock's first step on its own.
FIRST_STEPS_PER_THREAD = 4
STEP_RELATED = ("device", "reservation", "turnover__assignee", "standing__crew_member")


def _first_steps(device_ids: list[int], now) -> dict[int, LockAccess]:
    """The first due step (STEP_ORDER) of each of these locks that no worker holds, read
    whole; a lock whose first step is not among the rows read is left out (its worker
    reads it then)."""
    if not device_ids:
        return {}
    first: dict[int, LockAccess] = {}
    rows = (
        _due(now)
        .filter(pacing.lease_free(now, "device__"), device_id__in=device_ids)
        .select_related(*STEP_RELATED)
        .order_by(*STEP_ORDER)[: 2 * len(device_ids)]
    )
    for row in rows:
        first.setdefault(row.device_id, row)
    return first


def _next_steps(device_id: int, skip: set[int], count: int = 1) -> list[LockAccess]:
    """The lock's next `count` due steps, in STEP_ORDER, each read whole with what the
    worker needs (its device, its holder): the read the step then works from."""
    now = timezone.now()
    return list(
        _due(now)
        .filter(device_id=device_id)
        .exclude(pk__in=skip)
        .select_related(*STEP_RELATED)
        .order_by(*STEP_ORDER)[:count]
    )


def _work_lock(
    device_id: int,
    gateways: _Gateways,
    stop_after: float | None,
    *,
    first: LockAccess | None = None,
    several: bool = True,
    look_again: bool = True,
) -> int:
    """Hold one lock and carry out its due steps one after another, nearest first.

    Any reservation's steps on this lock, not only those that brought the worker here:
    a worker that found the lock held left its step to the holder. For the same reason
    the holder looks once more after letting go (`look_again`): a step that fell due
    just before then would otherwise wait for the next sweep. A run that works every
    holder's steps needs no such look: its queue, read again within a second, finds it.

    `first`: the lock's first due step as the run's queue read it; `several`: whether
    the queue saw other due steps of the lock (read here then, under the lease).
    """
    worked = 0
    for _ in range(3):
        # A step read before the lease (`first`, by the run's queue) is worked only if
        # the lock is not paused meanwhile; the claim checks that the row is as read.
        token = pacing.lease_take(device_id, unless_paused=first is not None)
        if token is None:
            return worked  # another worker holds the lock and carries out its steps
        renewed = time.monotonic()
        tried: set[int] = set()
        read_again: set[int] = set()
        more = True
        try:
            if first is not None:
                # The lock's first step as the queue read it; its others, if the queue
                # saw any, are read below.
                access, first, more = first, None, several
                row_token = _claim(access)
                if row_token is None:
                    more = True  # changed since the queue read it: read afresh
                else:
                    tried.add(access.pk)
                    worked += 1
                    _process_safely(access, row_token, gateways)
            while more and len(tried) < STEPS_PER_TURN:
                if stop_after is not None and time.monotonic() > stop_after:
                    return worked
                # The next step, and whether another one was due: if not, the look after
                # letting go (below) is the only one needed.
                steps = _next_steps(device_id, tried, count=2)
                if not steps:
                    break
                access, more = steps[0], len(steps) > 1
                pk = access.pk
                tried.add(pk)
                # Renewed once half of it is gone: a step never starts on a lease that
                # could run out under it (a step takes seconds, a lease minutes).
                if time.monotonic() - renewed > RENEW_AFTER:
                    if not pacing.lease_renew(device_id, token):
                        return worked  # held past its lease: another worker has the lock
                    renewed = time.monotonic()
                row_token = _claim(access)
                if row_token is None:
                    if pk not in read_again:  # changed since read (a re-plan): once more
                        read_again.add(pk)
                        tried.discard(pk)
                        more = True
                    continue
                worked += 1
                _process_safely(access, row_token, gateways)
        finally:
            pacing.lease_release(device_id, token)
        if len(tried) >= STEPS_PER_TURN or not look_again or not _more_due(device_id, tried):
            return worked
    return worked


def _process_safely(access: LockAccess, token: str, gateways: _Gateways) -> None:
    try:
        _process(access, token, gateways)
    except Exception:  # one step's bug must not hold up the lock's others
        logger.exception("Lock access %s: unexpected failure", access.pk)
        _record_failure(
            access.pk, token, "Unexpected error; Keystay will try again.", retryable=True
        )


@dataclass
class _Outcome:
    state: str
    provider_id: str | None = None
    provider_user_id: str | None = None
    provider_code: str | None = None
    provider_starts_at: datetime.datetime | None = None
    provider_ends_at: datetime.datetime | None = None
    removed: bool = False
    recheck: bool = False
    # A create or an update reached the provider: the lock has yet to confirm it.
    requested: bool = False
    # What to write on the row's history: (kind, provider id, detail).
    logs: list[tuple[str, str, str]] = field(default_factory=list)


def _process(access: LockAccess, token: str, gateways: _Gateways) -> None:
    """Carry out one step of a row this worker read and claimed (`_claim`): `access` is
    the row as read, its state the one before the claim."""
    pk = access.pk
    try:
        # Every code write on the lock keeps under Seam's per-lock limits, whichever
        # worker makes it.
        gateway = pacing.PacedGateway(
            gateways.for_device(access.device),
            access.device_id,
            seen=access.device.recent_writes,
        )
        if _leaving(access):
            outcome = _remove(access, gateway)
        elif not access.provider_id and timezone.now() < access.program_at:
            outcome = _Outcome(state=State.PLANNED)  # woken early: nothing to do yet
        else:
            outcome = _program(access, gateway, token)
    except ProviderError as error:
        if isinstance(error, pacing.Paced):
            _wait_for_slot(access, token, error)
            return
        if error.kind == "rate_limited":
            _back_off(access, token, error)
            return
        if error.code in DUPLICATE_CODES and not _leaving(access):
            _duplicate_refused(access, token, error)
            return
        # A refused code will be refused again: wait for the plan to change. Anything
        # else (offline, outage, timeout) is retried with backoff.
        retryable = not error.refused or _leaving(access)
        _record_failure(pk, token, error.message, retryable=retryable)
        return
    _record_success(pk, token, outcome, device=access.device, read=access)


# The provider's words for "this lock already holds that code".
DUPLICATE_CODES = frozenset({"duplicate_access_code", "duplicate_code_on_device"})
RATE_LIMIT_PAUSE = datetime.timedelta(seconds=60)


def _back_off(access: LockAccess, token: str, error: ProviderError) -> None:
    """The provider asked to slow down for this lock: pause this lock alone.

    Every due step of the lock waits until `Device.backoff_until`; other locks go on.
    Not a failure of the code: its state and attempt count stay as they were.
    """
    now = timezone.now()
    retry_after = getattr(error, "retry_after", None)
    pause = datetime.timedelta(seconds=retry_after) if retry_after else RATE_LIMIT_PAUSE
    until = now + pause
    with transaction.atomic():
        lock_services.device_back_off(device_id=access.device_id, until=until)
        row = LockAccess.objects.select_for_update().get(pk=access.pk)
        if row.claim_token != token:
            return
        access_states.restore(row, access.state)  # as it was before the worker took it
        row.claimed_until, row.claim_token = None, ""
        row.due_at = until
        row.save(update_fields=["state", "claimed_until", "claim_token", "due_at", "updated_at"])
        access_log(
            row,
            [(Log.RATE_LIMITED, "", f"Paused until {until:%H:%M:%S} UTC.")],
            source=LockAccessLog.Source.WORKER,
            at=now,
        )
    logger.info("Device %s rate-limited by the provider until %s", access.device_id, until)


def _wait_for_slot(access: LockAccess, token: str, paced: pacing.Paced) -> None:
    """This step would pass Seam's per-lock limit: it waits for a slot, alone.

    Unlike a 429, the lock's other steps go on (a removal has a budget of its own), and
    nothing failed: state and attempt count stay as they were.
    """
    now = timezone.now()
    with transaction.atomic():
        row = LockAccess.objects.select_for_update().get(pk=access.pk)
        if row.claim_token != token:
            return
        access_states.restore(row, access.state)  # as it was before the worker took it
        row.claimed_until, row.claim_token = None, ""
        # A plan that changed meanwhile (a cancellation) makes another step, with a
        # budget of its own: that one runs at once.
        row.due_at = paced.until if _leaving(row) == _leaving(access) else now
        row.save(update_fields=["state", "claimed_until", "claim_token", "due_at", "updated_at"])
        access_log(
            row,
            [(Log.RATE_LIMITED, "", paced.message)],
            source=LockAccessLog.Source.WORKER,
            at=now,
        )
    logger.info("Lock access %s waits for a write slot until %s", access.pk, paced.until)


def _duplicate_refused(access: LockAccess, token: str, error: ProviderError) -> None:
    """The lock already holds this code (someone else's, made outside Keystay).

    Before the guest has the code, every lock of the stay moves to a new one; once the
    guest has it, the code is kept and the stay is raised (the lock access fails, shown
    on the dashboard) for staff to rotate it or free the lock.
    """
    now = timezone.now()
    if access.turnover_id is not None:
        _duplicate_refused_turnover(access, token, now)
        return
    if access.standing_id is not None:
        _duplicate_refused_standing(access, token, now)
        return
    reservation = access.reservation
    code = ReservationCode.objects.filter(reservation=reservation).first()
    own_code = bool(access.code) and code is not None and access.code == code.value
    if own_code and not _code_is_kept(reservation, code, now):
        with transaction.atomic():
            if not _release_as_duplicate(access, token, "a new code for every lock", now):
                return
            locked = Reservation.objects.select_for_update().get(pk=reservation.pk)
            _ensure_code(locked, _guest_locks(locked.listing), now, force_new=True)
            reservation_replan(reservation=locked, now=now)
        return
    _record_failure(
        access.pk,
        token,
        "The lock already holds this code (made outside Keystay?) and the guest has it: "
        "rotate the code or free the lock.",
        retryable=False,
    )
    access_log(
        access,
        [(Log.DUPLICATE, "", "Refused as a duplicate after the guest had the code.")],
        source=LockAccessLog.Source.WORKER,
        at=now,
    )


def _release_as_duplicate(access: LockAccess, token: str, answer: str, now) -> bool:
    """Give back a row refused as a duplicate, with the answer on its history (in the
    caller's transaction); False when another worker holds it now."""
    row = LockAccess.objects.select_for_update().get(pk=access.pk)
    if row.claim_token != token:
        return False
    row.claimed_until, row.claim_token = None, ""
    row.save(update_fields=["claimed_until", "claim_token", "updated_at"])
    access_log(
        row,
        [(Log.DUPLICATE, "", f"The lock already held it: {answer}.")],
        source=LockAccessLog.Source.WORKER,
        at=now,
    )
    return True


def _duplicate_refused_turnover(access: LockAccess, token: str, now) -> None:
    """A turnover's code is the crew's alone: the turnover gets a new code on every door
    (its assignee is told again)."""
    with transaction.atomic():
        if _release_as_duplicate(access, token, "a new code for the turnover", now):
            turnover_replan(turnover=access.turnover, now=now, force_new_code=True)


def _duplicate_refused_standing(access: LockAccess, token: str, now) -> None:
    """A standing code is its crew member's alone: a new code on every door."""
    from .standing import standing_replan

    with transaction.atomic():
        if _release_as_duplicate(access, token, "a new code for the standing access", now):
            standing_replan(standing=access.standing, now=now, force_new_code=True)


def _ongoing(access: LockAccess) -> bool:
    """A standing code with no end, sent without a window where the lock takes one
    (a PIN lock's access code; an entrance's credential keeps the far end)."""
    return access.standing_id is not None and access.ends_at >= OPEN_END


def _leaving(access: LockAccess) -> bool:
    return not access.wanted or timezone.now() >= access.ends_at


def _remove(access: LockAccess, gateway: SeamGateway) -> _Outcome:
    device = access.device
    if device.kind == Device.Kind.ACS_ENTRANCE:
        if access.provider_id:
            gateway.delete_acs_credential(provider_id=access.provider_id)
        if access.provider_user_id:
            gateway.delete_acs_guest(acs_user_id=access.provider_user_id)
    else:
        prefix = _name_prefix(access)
        # Only codes the provider lists on this lock that are this stay's: named after this
        # access (also a create that succeeded unseen), or under the recorded id and named
        # for no other stay. A provider that lost its codes may since have given the
        # recorded id to another code, here or on another lock (Seam's fake counts from
        # access_code1 again after a restart): deleting by that id alone would take
        # another guest's code off. A recorded id not listed here is gone from this lock.
        ours = {
            c.provider_id: c
            for c in gateway.list_device_codes(device_id=device.provider_device_id)
            if c.name.startswith(prefix)
            or (c.provider_id == access.provider_id and not OWN_NAME.match(c.name))
        }
        ids = set(ours)
        logs = []
        for provider_id in ids:
            # A code Seam is deleting already (pending_mutations) is not deleted twice.
            if "deleting" not in ours[provider_id].pending_mutations:
                gateway.delete_access_code(provider_id=provider_id)
            if access.state != State.REMOVING:
                logs.append((Log.REMOVAL_REQUESTED, provider_id, ""))
        # Done when the provider no longer lists the code, not when the delete returned:
        # a lock may take a while to drop it, so check again until it is gone.
        for provider_id in ids:
            left = gateway.get_access_code(provider_id)
            if left is not None and left.device_id in ("", device.provider_device_id):
                return _Outcome(state=State.REMOVING, recheck=True, logs=logs)
        logs += [(Log.REMOVED, provider_id, "") for provider_id in ids]
        return _Outcome(state=gone_state(access.reason), removed=True, logs=logs)
    return _Outcome(state=gone_state(access.reason), removed=True)


def _program(access: LockAccess, gateway: SeamGateway, token: str) -> _Outcome:
    device = access.device
    now = timezone.now()
    # Some locks refuse a start in the past: a late code starts now.
    start = max(access.starts_at, now.replace(microsecond=0))
    if device.kind == Device.Kind.ACS_ENTRANCE:
        return _program_entrance(access, gateway, token, start)
    code = access.code if device.can_specify_pin_code else None
    if not access.provider_id:
        _check_free_slot(access)
        found = (
            gateway.find_access_codes(
                device_id=device.provider_device_id, name_prefix=_name_prefix(access)
            )
            if _maybe_sent(access)
            else []
        )
        if found:  # adopt it; never put a second copy on the lock
            keep, extras = found[0], found[1:]
            for extra in extras:
                gateway.delete_access_code(provider_id=extra.provider_id)
            access.provider_id = keep.provider_id
            access.provider_code = keep.code
            access.provider_starts_at, access.provider_ends_at = keep.starts_at, keep.ends_at
            adopted = [(Log.ADOPTED, keep.provider_id, "A create whose answer was lost.")]
        else:
            ongoing = _ongoing(access)
            created = gateway.create_access_code(
                device_id=device.provider_device_id,
                code=code,
                name=_access_name(access),
                starts_at=None if ongoing else start,
                ends_at=None if ongoing else access.ends_at,
                use_backup_pool=device.use_backup_pool and device.supports_backup_access_code_pool,
            )
            return _Outcome(
                state=State.REQUESTED,
                provider_id=created.provider_id,
                provider_code=created.code or code or "",
                provider_starts_at=start,
                provider_ends_at=access.ends_at,
                requested=True,
                logs=[(Log.REQUESTED, created.provider_id, "")],
            )
    else:
        adopted = []
    if _needs_update(access, now):
        new_start = access.provider_starts_at
        if new_start is None or access.starts_at > new_start or new_start > now:
            new_start = start
        ongoing = _ongoing(access)
        gateway.update_access_code(
            provider_id=access.provider_id,
            code=code,
            name=_access_name(access),
            starts_at=None if ongoing else new_start,
            ends_at=None if ongoing else access.ends_at,
        )
        return _Outcome(
            state=State.REQUESTED,
            provider_id=access.provider_id,
            provider_code=code or access.provider_code,
            provider_starts_at=new_start,
            provider_ends_at=access.ends_at,
            requested=True,
            logs=[*adopted, (Log.REQUESTED, access.provider_id, "Changed: code or window.")],
        )
    return _Outcome(
        state=access.state if access.state in AT_PROVIDER else State.REQUESTED,
        provider_id=access.provider_id,
        provider_code=access.provider_code,
        provider_starts_at=access.provider_starts_at,
        provider_ends_at=access.provider_ends_at,
        logs=adopted,
    )


def _maybe_sent(access: LockAccess) -> bool:
    """Whether a create of this row's code may have reached the provider unseen: a row
    still planned (no worker was sending it when it stopped), never requested and never
    failed has sent nothing, and needs no look-up for a copy to adopt. A worker that
    died or lost its database half-way left the row `programming`; an unanswered create
    counts as a failed attempt."""
    return not (
        access.state == State.PLANNED and access.attempts == 0 and access.programmed_at is None
    )


def slots_in_use(device: Device) -> int:
    """Codes that hold one of the lock's slots: Keystay's at the provider (or on their way
    off) and those made outside Keystay."""
    keystay = (
        LockAccess.objects.filter(device=device)
        .exclude(provider_id="")
        .exclude(state__in=FINAL_STATES)
        .count()
    )
    return keystay + device.unmanaged_codes.count()


def _few_slots_threshold(capacity: int) -> int:
    return max(1, capacity // 10)


def _check_free_slot(access: LockAccess) -> None:
    """A full lock refuses new codes (or fails to confirm them): wait for a slot instead.

    Due work is taken nearest first, so the nearest stays get the slots; this one is
    retried with backoff, shown as failing, until a code leaves the lock.
    """
    capacity = access.device.max_active_codes
    if capacity is None:
        return
    used = slots_in_use(access.device)
    if used >= capacity:
        _slots_alert(access.device, used=used, capacity=capacity)
        raise ProviderError(
            "unavailable",
            f"No free code slot on this lock ({used} of {capacity} in use); "
            "Keystay tries again as codes leave it.",
        )


def _slots_alert(device: Device, *, used: int, capacity: int) -> None:
    """Raise a lock about to run out of slots before it refuses a guest; resolve it when
    codes have left."""
    kind, now = DeviceAlert.Kind.FEW_SLOTS, timezone.now()
    if capacity - used <= _few_slots_threshold(capacity):
        alert_open(
            device=device, kind=kind, at=now, message=f"{used} of {capacity} code slots in use."
        )
    else:
        alert_resolve(
            device=device,
            kind=kind,
            at=now,
            resolution=f"Slots freed: {used} of {capacity} in use.",
        )


def _program_entrance(access, gateway: SeamGateway, token: str, start) -> _Outcome:
    """An entrance: a guest user of the access-control system with a PIN credential."""
    device = access.device
    if not access.provider_user_id:
        user_id = gateway.create_acs_guest(
            acs_system_id=device.provider_system_id,
            full_name=_access_name(access),
            starts_at=start,
            ends_at=access.ends_at,
        )
        # Keep the user at once: a failure below must not create a second one on retry.
        LockAccess.objects.filter(pk=access.pk).update(provider_user_id=user_id)
        access.provider_user_id = user_id
    elif access.provider_id and _needs_update(access, timezone.now()):
        # A credential's code or window changes by replacing it.
        gateway.update_acs_guest(
            acs_user_id=access.provider_user_id, starts_at=start, ends_at=access.ends_at
        )
        gateway.delete_acs_credential(provider_id=access.provider_id)
        LockAccess.objects.filter(pk=access.pk).update(provider_id="")
        access.provider_id = ""
    if not access.provider_id:
        credential = gateway.create_acs_credential(
            acs_user_id=access.provider_user_id,
            entrance_id=device.provider_device_id,
            code=access.code,
            starts_at=start,
            ends_at=access.ends_at,
        )
        return _Outcome(
            state=State.REQUESTED,
            requested=True,
            logs=[(Log.REQUESTED, credential.provider_id, "")],
            provider_id=credential.provider_id,
            provider_user_id=access.provider_user_id,
            provider_code=credential.code,
            provider_starts_at=start,
            provider_ends_at=access.ends_at,
        )
    return _Outcome(
        state=access.state if access.state in AT_PROVIDER else State.REQUESTED,
        provider_id=access.provider_id,
        provider_code=access.provider_code,
        provider_starts_at=access.provider_starts_at,
        provider_ends_at=access.provider_ends_at,
    )


def _record_success(
    pk: int, token: str, outcome: _Outcome, device: Device | None = None, *, read=None
) -> None:
    """Write a step's outcome on its row. `device`: the row's lock as the worker read it
    (saves reading it again); `read`: the row as the worker read and claimed it.

    With `read`, one compare-and-set writes the outcome when the row is still exactly
    as claimed (the claim is ours and `updated_at` unchanged: every re-plan saves it),
    which is nearly always; a row a re-plan changed meanwhile is read again under a row
    lock and the outcome applied to its new plan."""
    now = timezone.now()
    with transaction.atomic():
        if read is not None and _record_as_claimed(read, token, outcome, now):
            access = read
        else:
            access = _record_on_current(pk, token, outcome, now)
            if access is None:
                return
        access_log(access, outcome.logs, source=LockAccessLog.Source.WORKER, at=now)
        device = device or access.device
        if device.max_active_codes is not None and (outcome.requested or outcome.removed):
            _slots_alert(device, used=slots_in_use(device), capacity=device.max_active_codes)


def _record_as_claimed(access: LockAccess, token: str, outcome: _Outcome, now) -> bool:
    """The outcome on the row as the worker claimed it, written only if the row is still
    so (False: it changed, nothing written)."""
    claimed = getattr(access, "_claimed", None)
    if claimed is None or claimed[0] != token:
        return False
    _, before, read_updated_at = claimed
    access_states.as_claimed(access, before["state"])
    _apply_outcome(access, outcome, now)
    changed = {
        name: getattr(access, name) for name in _RECORDED if getattr(access, name) != before[name]
    }
    # Each ciphertext's digest with it, as CodeDigests.save writes them.
    changed |= {
        digest: getattr(access, digest)
        for ciphertext, digest in access.code_digest_fields.items()
        if ciphertext in changed
    }
    access.updated_at = now
    return update_row(
        LockAccess,
        access.pk,
        values={**changed, "updated_at": now},
        equal={"claim_token": token, "updated_at": read_updated_at},
    )


def _record_on_current(pk: int, token: str, outcome: _Outcome, now) -> LockAccess | None:
    """The outcome on the row as it is now, read under a row lock (a re-plan may have
    changed it meanwhile); None when another worker holds it now."""
    access = LockAccess.objects.select_for_update().get(pk=pk)
    if access.claim_token != token:
        # Our lease ran out and another worker took the row: keep what only we know
        # (the provider's ids), leave state and schedule to the current owner.
        if outcome.provider_id and not access.provider_id:
            access.provider_id = outcome.provider_id
        if outcome.provider_user_id and not access.provider_user_id:
            access.provider_user_id = outcome.provider_user_id
        access.save(update_fields=["provider_id", "provider_user_id", "updated_at"])
        return None
    before = {name: getattr(access, name) for name in _RECORDED}
    _apply_outcome(access, outcome, now)
    # What changed only (the row is locked: the rest is as read).
    changed = [name for name in _RECORDED if getattr(access, name) != before[name]]
    access.save(update_fields=[*changed, "updated_at"])
    return access


def _apply_outcome(access: LockAccess, outcome: _Outcome, now) -> None:
    """A step's outcome on the row in memory (the caller writes it, and its evidence)."""
    if outcome.provider_id is not None:
        access.provider_id = outcome.provider_id
    if outcome.provider_user_id is not None:
        access.provider_user_id = outcome.provider_user_id
    if outcome.provider_code is not None and (
        not access.provider_code_ciphertext or access.provider_code != outcome.provider_code
    ):
        access.provider_code = outcome.provider_code
    if outcome.state in AT_PROVIDER:
        access.provider_starts_at = outcome.provider_starts_at
        access.provider_ends_at = outcome.provider_ends_at
    if outcome.requested:
        access.programmed_at = now
        access.drift_seen_at = None
    if outcome.state == State.REMOVING and access.removal_requested_at is None:
        access.removal_requested_at = now
    if outcome.removed:
        access.provider_id = ""
        access.provider_user_id = ""
        access.removal_requested_at = access.removal_requested_at or now
        access.removed_at = now
    access_states.move(access, outcome.state)
    access.attempts = 0
    access.last_error = ""
    access.claimed_until = None
    access.claim_token = ""
    if outcome.recheck:
        access.due_at = now + CONFIRM_REMOVAL_AFTER
    elif outcome.removed and access.wanted and now < access.ends_at:
        # The lock came back to the stay while its code was being removed.
        access_states.move(access, State.PLANNED)
        access.due_at = _next_due(access, now)
    else:
        access.due_at = _next_due(access, now)


# What recording an outcome may write on a lock access (CodeDigests saves a ciphertext's
# digest with it).
_RECORDED = (
    "provider_id",
    "provider_user_id",
    "provider_code_ciphertext",
    "provider_starts_at",
    "provider_ends_at",
    "programmed_at",
    "drift_seen_at",
    "removal_requested_at",
    "removed_at",
    "state",
    "attempts",
    "last_error",
    "claimed_until",
    "claim_token",
    "due_at",
)


def _record_failure(pk: int, token: str, message: str, *, retryable: bool) -> None:
    now = timezone.now()
    with transaction.atomic():
        access = LockAccess.objects.select_for_update().get(pk=pk)
        if access.claim_token != token:
            return  # another worker owns the row now
        if access.state != State.FAILED and access.reservation_id is not None:
            signals.announce(
                signals.LOCK_FAILED,
                reservation_id=access.reservation_id,
                lock_access_id=access.pk,
                at=now,
            )
        access.attempts += 1
        access_states.move(access, State.FAILED)
        access.last_error = message
        access.last_error_at = now
        access.claimed_until = None
        access.claim_token = ""
        backoff = retry_delay(access.attempts)
        if retryable:
            access.due_at = now + backoff
        elif _at_provider(access):
            # Refused (say, a new code): wait for a change, but the code that is on the
            # lock still leaves it at the end of its window.
            access.due_at = max(access.ends_at, now)
        else:
            access.due_at = None
        access.save()
        access_log(access, [(Log.FAILED, "", message)], source=LockAccessLog.Source.WORKER, at=now)
    logger.warning("Lock access %s failed (attempt %s): %s", pk, access.attempts, message)
