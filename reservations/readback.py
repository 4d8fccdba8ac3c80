"""Door truth: what each lock really holds, read back from the provider.

Keystay never trusts a write alone. A code is *requested* once Seam accepted it, and
*confirmed* only when the lock reports it (Seam's `access_code.set_on_device` event, or the
code's status `set` with no errors); its removal is done when Seam no longer lists it.

Two ways in, one set of rules:
- `code_event_apply`: a provider event about one code (webhook or events reconcile)
  moves its lock access at once, and asks for a reconcile of that lock;
- `lock_reconcile`: one lock at a time, compares what Keystay intends with what Seam
  lists (one managed and one unmanaged list per lock) and repairs drift: a code missing
  is re-created, a code changed outside Keystay is restored after a grace period (Seam
  restores managed codes by itself unless external changes are allowed), a Keystay code
  that no stay wants any more is removed, a code whose create answer was lost is adopted.
  Codes that are not proven Keystay's (made in the lock's app, backup codes, another
  integration's) are never touched.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection as db_connection
from django.db import connections as db_connections
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.crypto import code_digest
from locks import pacing
from locks import services as lock_services
from locks.gateway import EventInfo, ProviderCode, ProviderError, SeamGateway
from locks.models import Device
from locks.unmanaged import unmanaged_codes_read_device

from . import access_states, signals
from .access_states import access_log
from .models import OPEN_END, DeviceAlert, LockAccess, LockAccessLog
from .planning import enqueue_holder
from .provisioning import due_holders, holder_of_name, retry_delay

logger = logging.getLogger(__name__)

State = LockAccess.State
Log = LockAccessLog.Kind
Source = LockAccessLog.Source


# The periodic sweep runs every minute and django-q2's scheduler may start it 30 s late:
# a lock is taken this much before its interval is up, so it is read about on time.
SWEEP_SLACK = datetime.timedelta(seconds=45)


def _grace() -> datetime.timedelta:
    """How long Seam gets to restore a code changed in the lock's app before Keystay does."""
    return datetime.timedelta(minutes=settings.LOCK_RECONCILE_GRACE_MINUTES)


# ---------------------------------------------------------------------- provider events

CODE_EVENTS = {
    "access_code.set_on_device",
    "access_code.failed_to_set_on_device",
    "access_code.delay_in_setting_on_device",
    "access_code.removed_from_device",
    "access_code.failed_to_remove_from_device",
    "access_code.delay_in_removing_from_device",
    "access_code.deleted_external_to_seam",
    "access_code.modified_external_to_seam",
}


def access_for_code(device: Device, provider_id: str) -> LockAccess | None:
    """The lock access that holds (or once held) a provider code id on this lock: its
    history keeps every id it had (removed, re-created, rotated)."""
    holding = LockAccess.objects.filter(device=device).select_related(
        "reservation", "turnover__assignee", "standing__crew_member"
    )
    return (
        holding.filter(provider_id=provider_id).first()
        or holding.filter(logs__provider_id=provider_id).first()
    )


def code_event_apply(*, device: Device, event: EventInfo) -> bool:
    """Move the lock access a code event is about; True when the lock should be reconciled.

    Events arrive late and out of order: one older than the code's last request (a
    change sent since) says nothing about what the lock holds now.
    """
    if event.event_type not in CODE_EVENTS or not event.access_code_id:
        return False
    now = timezone.now()
    kind = event.event_type.removeprefix("access_code.")
    with transaction.atomic():
        found = access_for_code(device, event.access_code_id)
        if found is None:
            return True  # not a code Keystay tracks: the reconcile decides what it is
        access = LockAccess.objects.select_for_update().get(pk=found.pk)
        current = access.provider_id == event.access_code_id
        stale = access.programmed_at is not None and event.occurred_at < access.programmed_at
        leaving = not access.wanted or now >= access.ends_at
        entries: list[tuple[str, str, str]] = []
        fields: list[str] = []
        if kind == "set_on_device" and current and not stale and not leaving:
            if access.state in (State.REQUESTED, State.PROGRAMMING, State.FAILED):
                access_states.move(access, State.CONFIRMED)
                access.confirmed_at = event.occurred_at
                access.attempts, access.last_error = 0, ""
                fields += ["state", "confirmed_at", "attempts", "last_error"]
                entries.append((Log.CONFIRMED, event.access_code_id, ""))
                prearrival_resolved(access, now)
                _announce(signals.LOCK_CONFIRMED, access, now)
        elif kind == "failed_to_set_on_device" and current and not stale and not leaving:
            fields += _refused_by_lock(access, now, held=True)
            entries.append((Log.FAILED, event.access_code_id, "Reported by the lock."))
        elif kind in ("delay_in_setting_on_device", "delay_in_removing_from_device"):
            entries.append((Log.DELAYED, event.access_code_id, kind.replace("_", " ")))
        elif kind == "removed_from_device" and (leaving or not current):
            if current and access.state not in LockAccess.FINAL_STATES:
                access.due_at = now  # the worker confirms the removal by reading it back
                fields.append("due_at")
            entries.append((Log.REMOVED, event.access_code_id, "Reported by the lock."))
        elif kind == "failed_to_remove_from_device":
            access_states.move(access, State.REMOVING)
            access.last_error = "The lock did not remove the code; Keystay tries again."
            access.last_error_at = now
            access.due_at = now + retry_delay(access.attempts + 1)
            fields += ["state", "last_error", "last_error_at", "due_at"]
            entries.append((Log.FAILED, event.access_code_id, "Removal refused by the lock."))
        elif kind in ("deleted_external_to_seam", "removed_from_device"):
            entries.append((Log.MISSING, event.access_code_id, kind.replace("_", " ")))
        elif kind == "modified_external_to_seam":
            entries.append((Log.CHANGED, event.access_code_id, "Changed in the lock's app."))
        if fields:
            access.save(update_fields=[*fields, "updated_at"])
        access_log(access, entries, source=Source.EVENT, at=now, event_id=event.event_id)
    if "due_at" in fields:
        enqueue_holder(access.holder_key)
    return True


# ------------------------------------------------------------------------- reconcile


@dataclass
class ReconcileResult:
    findings: Counter = field(default_factory=Counter)
    calls: int = 0
    # A worker held the lock: nothing was read or changed (the next sweep reads it).
    busy: bool = False

    def __str__(self) -> str:
        if self.busy:
            return "busy: a worker is writing this lock's codes"
        found = ", ".join(f"{n} {what}" for what, n in sorted(self.findings.items()))
        return found or "in step"


def _is_own(code: ProviderCode, device: Device, recorded_ids: set[str]) -> bool:
    """Proven Keystay's: an id Keystay recorded, or Keystay's name (a stay's or a
    turnover's) for this lock."""
    if code.provider_id in recorded_ids:
        return True
    holder = holder_of_name(code.name)
    return holder is not None and holder[2] == device.pk


def lock_reconcile(
    *, device: Device, gateway: SeamGateway, now: datetime.datetime | None = None
) -> ReconcileResult:
    """Compare one lock's codes at the provider with Keystay's plan; repair the drift.

    The reconcile holds the lock's lease (`locks.pacing`), as a worker writing its codes
    does: read while a worker is half-way through a write, the lock could show a code the
    provider took but Keystay has not recorded yet, which the reconcile would take for a
    stray and delete. A lock a worker holds is left for the next sweep (`busy`), and the
    steps that fell due while the reconcile held it are queued once it lets go (a worker
    that found the lock held left them to the holder).

    Raises ProviderError when the lock's codes cannot be listed: nothing is decided on
    a partial read.
    """
    now = now or timezone.now()
    token = pacing.lease_take(device.pk)
    if token is None:
        return ReconcileResult(busy=True)
    try:
        result, wake = _reconcile(device, gateway, now)
    finally:
        pacing.lease_release(device.pk, token)
    wake |= due_holders(device.pk, timezone.now())
    for holder in sorted(wake):
        enqueue_holder(holder)
    if result.findings:
        logger.info("Lock %s reconciled: %s", device.pk, result)
    return result


def _reconcile(
    device: Device, gateway: SeamGateway, now: datetime.datetime
) -> tuple[ReconcileResult, set[int]]:
    """The reconcile itself, under the lock's lease: its result, and the stays to wake."""
    result = ReconcileResult()
    codes = gateway.list_device_codes(device_id=device.provider_device_id)
    result.calls += 1
    # The unmanaged list too (one call, same client): it is what the code generator avoids.
    _unmanaged_read(device, gateway, now)
    result.calls += 1
    listed = {code.provider_id: code for code in codes}
    # Read under the lease, after the lists: a worker's write just before the lease was
    # taken is in these rows (read earlier, for a whole chunk, it might not be, and a code
    # the worker had just sent would look like a stray to delete).
    accesses = list(
        LockAccess.objects.filter(device=device)
        .filter(~Q(state__in=LockAccess.FINAL_STATES) | ~Q(provider_id=""))
        # Not the model's ordering, which joins every row to its stay and its lock.
        .order_by("pk")
    )
    current_ids = {a.provider_id for a in accesses if a.provider_id}
    known: dict[str, LockAccess] = {a.provider_id: a for a in accesses if a.provider_id}
    recorded_ids = set(current_ids)
    if any(code.provider_id not in current_ids for code in codes):
        # A code Keystay does not hold now: every provider id it ever recorded on this
        # lock (one query), and which of the accesses still in play it belonged to. A lock
        # in step lists none, and skips the query.
        by_pk = {a.pk: a for a in accesses}
        for provider_id, access_id in (
            LockAccessLog.objects.filter(access__device=device)
            .exclude(provider_id="")
            .order_by()
            .values_list("provider_id", "access_id")
        ):
            recorded_ids.add(provider_id)
            if provider_id not in known and access_id in by_pk:
                known[provider_id] = by_pk[access_id]
    wake: set[tuple[str, int]] = set()

    for access in accesses:
        if not access.provider_id or access.state in LockAccess.FINAL_STATES:
            continue
        leaving = not access.wanted or now >= access.ends_at
        code = listed.get(access.provider_id)
        if code is None:
            if leaving:
                # Gone at the provider: the worker confirms the removal on its next look.
                access_states.write_unclaimed(access, due_at=now)
                wake.add(access.holder_key)
                continue
            # Missing at the provider (deleted there, lost in an outage): nobody else will
            # put it back. Keep the old id in the history, then program it anew.
            _record(access, Log.MISSING, "Not listed by the provider.", now)
            _record(access, Log.RECREATED, "Programmed again.", now)
            access_states.write_unclaimed(
                access,
                provider_id="",
                state=State.PLANNED,
                due_at=now,
                drift_seen_at=None,
                provider_starts_at=None,
            )
            result.findings["re-created"] += 1
            wake.add(access.holder_key)
            continue
        if leaving:
            continue  # the worker removes it; a failure there is retried and shown
        if code.pending_mutations:
            # Seam is still pushing a change to the lock (its own restore, Keystay's
            # update): what the list shows is not drift yet, and repairing it now would
            # send the change twice. Judged once Seam is done.
            result.findings[f"still changing at the provider ({_pending(code)})"] += 1
            continue
        changed = _digits_differ(access, code)
        if changed or "code_modified_external_to_seam" in code.warnings:
            if access.drift_seen_at is None:
                _record(access, Log.CHANGED, "Found changed on the lock.", now)
                access_states.write_unclaimed(access, drift_seen_at=now)
                result.findings["changed, waiting for the provider"] += 1
            elif now - access.drift_seen_at >= _grace():
                # The provider did not restore it: Keystay sends its own code again.
                _record(access, Log.RESTORED, "Sent again after the grace period.", now)
                access_states.write_unclaimed(
                    access, provider_code=code.code, drift_seen_at=None, due_at=now
                )
                result.findings["restored"] += 1
                wake.add(access.holder_key)
            continue
        if access.drift_seen_at is not None:
            # Restored by the provider meanwhile.
            access_states.write_unclaimed(access, drift_seen_at=None)
        failed = "failed_to_set_on_device" in code.errors
        if failed and access.state != State.FAILED:
            _record(access, Log.FAILED, "The provider reports it failed on the lock.", now)
            _refused_by_lock(access, now, held=False)
            result.findings["failed"] += 1
        elif code.status == "set" and not code.errors and access.state != State.CONFIRMED:
            _record(access, Log.CONFIRMED, "The provider reports it set on the lock.", now)
            if access_states.write_unclaimed(
                access,
                state=State.CONFIRMED,
                confirmed_at=now,
                attempts=0,
                last_error="",
            ):
                _announce(signals.LOCK_CONFIRMED, access, now)
            prearrival_resolved(access, now)
            result.findings["confirmed"] += 1

    for code in codes:
        if code.provider_id in current_ids:
            continue
        if not _is_own(code, device, recorded_ids):
            continue  # not proven Keystay's: never touched
        if "deleting" in code.pending_mutations:
            result.findings["being removed by the provider"] += 1
            continue  # already on its way off the lock: neither adopted nor deleted again
        named = holder_of_name(code.name)
        owner = known.get(code.provider_id)
        if owner is None and named is not None:
            kind, holder_id = named[0], named[1]
            owner = next((a for a in accesses if a.holder_key == (kind, holder_id)), None)
            if owner is None:
                # A holder kind names its foreign key on LockAccess ("reservation" ->
                # reservation_id, turnover_id, standing_id), whichever kind it is.
                owner = LockAccess.objects.filter(
                    **{f"{kind}_id": holder_id}, device=device
                ).first()
        if (
            owner is not None
            and owner.wanted
            and now < owner.ends_at
            and not owner.provider_id
            and owner.state not in LockAccess.FINAL_STATES
        ):
            # A create whose answer was lost: adopt it rather than put a second copy on.
            _record(owner, Log.ADOPTED, "Found at the provider.", now, code.provider_id)
            access_states.write_unclaimed(
                owner,
                provider_id=code.provider_id,
                provider_code=code.code,
                provider_starts_at=code.starts_at,
                provider_ends_at=code.ends_at,
                state=State.REQUESTED,
                programmed_at=now,
                due_at=now,
            )
            result.findings["adopted"] += 1
            wake.add(owner.holder_key)
            continue
        # Keystay's code that no stay wants on this lock any more: a door left open.
        try:
            pacing.write_take(device.pk, "delete")
        except pacing.Paced:
            result.findings["left for the next reconcile (write limit)"] += 1
            continue
        gateway.delete_access_code(provider_id=code.provider_id)
        result.calls += 1
        if owner is not None:
            _record(owner, Log.STRAY_REMOVED, "Left on the lock; removed.", now, code.provider_id)
        result.findings["removed"] += 1

    lock_services.device_reconciled(device_id=device.pk, at=now)
    return result, wake


def _unmanaged_read(device: Device, gateway: SeamGateway, now: datetime.datetime) -> None:
    """Mirror the lock's unmanaged codes. A lock whose unmanaged list cannot be read keeps
    them as last seen, and its managed codes are reconciled all the same; a refused key
    stops the reconcile."""
    try:
        unmanaged_codes_read_device(device=device, gateway=gateway, now=now)
    except ProviderError as error:
        if error.kind == "unauthorized":
            raise
        logger.warning("Unmanaged codes of device %s not read: %s", device.pk, error.message)


def _digits_differ(access: LockAccess, code: ProviderCode) -> bool:
    """The provider lists other digits than the ones Keystay sent: compared by their keyed
    hash (cheap), without decrypting the stored code, when the row has one."""
    if not code.code:
        return False
    if access.provider_code_digest:
        return code_digest(code.code) != access.provider_code_digest
    return bool(access.provider_code_ciphertext) and code.code != access.provider_code


def _pending(code: ProviderCode) -> str:
    return ", ".join(m.replace("_", " ") for m in code.pending_mutations)


def prearrival_resolved(access: LockAccess, now) -> None:
    """The lock confirmed the code: a pre-arrival alert about it is resolved."""
    if access.reservation_id is None:
        return  # a turnover's code: no pre-arrival check
    DeviceAlert.objects.filter(
        kind=DeviceAlert.Kind.PREARRIVAL_FAILED,
        reservation_id=access.reservation_id,
        device_id=access.device_id,
        resolved_at__isnull=True,
    ).update(resolved_at=now)


def _record(access: LockAccess, kind: str, detail: str, now, provider_id: str = "") -> None:
    access_log(access, [(kind, provider_id, detail)], source=Source.RECONCILE, at=now)


REFUSED_BY_LOCK = "The lock did not accept the code; Keystay sends it again."


def _refused_by_lock(access: LockAccess, now, *, held: bool) -> list[str]:
    """The lock did not accept the code (Seam's failed_to_set_on_device, in an event or on
    the code in its list): failed, one more attempt, and sent again after the backoff as
    an update, so that Seam tries the lock again with the same code.

    held: the caller holds the row (select_for_update) and saves it with the returned
    fields; otherwise the row is written here unless a worker holds it (then nothing
    is, and nothing announced). A row not failing already is announced as failing.
    """
    was_failing = access.state == State.FAILED
    attempts = access.attempts + 1
    values = {
        "attempts": attempts,
        "last_error": REFUSED_BY_LOCK,
        "last_error_at": now,
        "provider_starts_at": None,
        "due_at": now + retry_delay(attempts),
    }
    if held:
        access_states.move(access, State.FAILED)
        for name, value in values.items():
            setattr(access, name, value)
        written = True
    else:
        written = access_states.write_unclaimed(access, state=State.FAILED, **values)
    if written and not was_failing:
        _announce(signals.LOCK_FAILED, access, now)
    return ["state", *values]


def _announce(event: str, access: LockAccess, now) -> None:
    if access.reservation_id is None:
        return  # a turnover's code: stay events are about stays
    signals.announce(event, reservation_id=access.reservation_id, lock_access_id=access.pk, at=now)


# ------------------------------------------------------------------- which locks, when


def _hot_device_ids(now) -> set[int]:
    """Locks with a stay active, or due to start, within the next 24 hours. An
    open-ended code (a standing one, ends_at at OPEN_END) makes its lock hot only until
    the lock confirms it: it has no end to watch, and it would keep the lock hot for
    good."""
    soon = now + datetime.timedelta(hours=24)
    return set(
        LockAccess.objects.filter(program_at__lt=soon, ends_at__gt=now, wanted=True)
        .exclude(state__in=LockAccess.FINAL_STATES)
        .exclude(ends_at__gte=OPEN_END, state__in=[State.CONFIRMED, State.ACTIVE])
        # Unordered: the model's ordering would join every row to its stay and its lock
        # and sort them, thousands of rows at a large organization.
        .order_by()
        .values_list("device_id", flat=True)
    )


def locks_due_for_reconcile(now: datetime.datetime | None = None) -> list[int]:
    """Ids of the PIN locks whose turn it is: every few minutes near a stay, else hourly."""
    now = now or timezone.now()
    hot = datetime.timedelta(minutes=settings.LOCK_RECONCILE_HOT_MINUTES)
    cold = datetime.timedelta(minutes=settings.LOCK_RECONCILE_COLD_MINUTES)
    hot_ids = _hot_device_ids(now)
    candidates = (
        Device.objects.filter(kind=Device.Kind.LOCK, removed_at__isnull=True)
        .exclude(connection__api_key_ciphertext="")
        .filter(Q(backoff_until__isnull=True) | Q(backoff_until__lte=now))
        # Queued by a pass and not read yet: not queued twice.
        .filter(Q(reconcile_queued_until__isnull=True) | Q(reconcile_queued_until__lte=now))
        .filter(Q(reconciled_at__isnull=True) | Q(reconciled_at__lte=now - hot + SWEEP_SLACK))
        .values_list("pk", "reconciled_at")
    )
    return [
        pk
        for pk, reconciled_at in candidates
        if pk in hot_ids or reconciled_at is None or reconciled_at <= now - cold + SWEEP_SLACK
    ]


def lock_reconcile_by_id(device_id: int) -> str:
    """Reconcile one lock; a failure is recorded on the lock, never raised to the caller."""
    device = Device.objects.select_related("connection").filter(pk=device_id).first()
    if device is None or device.removed_at is not None:
        return "lock gone"
    gateways = _Gateways()
    try:
        return str(_reconcile_one(device, gateways))
    finally:
        gateways.close()


def _reconcile_one(device: Device, gateways: _Gateways) -> ReconcileResult | str:
    """One lock's read-back with the connection's client; a failure is recorded on the
    lock, and said in the answer."""
    now = timezone.now()
    if device.backoff_until is not None and device.backoff_until > now:
        return "backing off"
    try:
        return lock_reconcile(device=device, gateway=gateways.for_device(device), now=now)
    except ProviderError as error:
        backoff_until = None
        if error.kind == "rate_limited":
            pause = datetime.timedelta(seconds=getattr(error, "retry_after", None) or 60)
            backoff_until = now + pause
        lock_services.device_reconciled(
            device_id=device.pk, at=now, error=error.message, backoff_until=backoff_until
        )
        logger.warning("Lock %s not reconciled: %s", device.pk, error.message)
        return f"failed: {error.message}"


class _Gateways:
    """One Seam client per connection, opened when a lock of it is first read and shared
    by the threads of a chunk (an httpx client is safe to share). Opening one costs more
    CPU than reading a lock (its TLS context loads the system's certificates), so a
    chunk opens it once, not once per lock. A connection whose client cannot be opened
    (no key, an endpoint no longer allowed) fails each of its locks alike."""

    def __init__(self):
        self._open: dict[int, SeamGateway | ProviderError] = {}
        self._mutex = threading.Lock()

    def for_device(self, device: Device) -> SeamGateway:
        with self._mutex:
            if device.connection_id not in self._open:
                try:
                    self._open[device.connection_id] = SeamGateway.for_connection(
                        device.connection
                    )
                except ProviderError as error:
                    self._open[device.connection_id] = error
            opened = self._open[device.connection_id]
        if isinstance(opened, ProviderError):
            raise opened
        return opened

    def close(self) -> None:
        for opened in self._open.values():
            if isinstance(opened, SeamGateway):
                opened.close()


# ---------------------------------------------------------------- the pass, in chunks

# The periodic pass cuts the locks whose turn it is into chunks, a task each, so that
# every worker of the cluster (in any process) reads its share at once: about
# CHUNKS_WANTED chunks of at least CHUNK_LEAST locks. A chunk reads its locks a few at a
# time (KEYSTAY_READBACK_CONCURRENCY threads: the time goes on waiting for Seam), each
# lock under its own lease, so a slow or rate-limited lock holds up only itself. A chunk
# holds at most CHUNK_ROUNDS locks per thread: a large pass is then many chunks of a
# few seconds each, and the workers share them out evenly. With chunks of 50 locks (4
# threads), 1,000 locks made 21 chunks of about 10 s at Seam's 200 ms: each cluster took
# a chunk or two ahead of the one it ran, and the last worker finished a chunk or two
# after the others.
CHUNK_LEAST, CHUNK_ROUNDS, CHUNKS_WANTED = 5, 3, 16
# A queued lock is not queued again by the next passes for this long (it is read well
# before, unless its task was lost).
QUEUED_FOR = datetime.timedelta(minutes=10)
# A chunk takes no new lock after this long (django-q2 stops a task after 120 s).
CHUNK_SECONDS = 80


def reconcile_chunks(device_ids: list[int]) -> list[list[int]]:
    """The locks, in order, cut into chunks of similar size."""
    ids = sorted(device_ids)
    if not ids:
        return []
    most = max(CHUNK_ROUNDS * readback_concurrency(), CHUNK_LEAST)
    size = min(max(-(-len(ids) // CHUNKS_WANTED), CHUNK_LEAST), most)
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def reconcile_pass(now: datetime.datetime | None = None) -> list[list[int]]:
    """Queue the locks whose turn it is, in chunks: each lock is marked queued (a pass
    running late, or two clusters' schedulers at once, never queue a lock twice) and
    returned in exactly one chunk."""
    now = now or timezone.now()
    queued = lock_services.devices_queue_for_reconcile(
        device_ids=locks_due_for_reconcile(now), now=now, until=now + QUEUED_FOR
    )
    return reconcile_chunks(queued)


def readback_concurrency() -> int:
    """How many locks one chunk reads at once (KEYSTAY_READBACK_CONCURRENCY)."""
    return max(1, int(getattr(settings, "KEYSTAY_READBACK_CONCURRENCY", 1)))


def locks_reconcile_chunk(device_ids: list[int], *, concurrency: int | None = None) -> Counter:
    """Read back a chunk of queued locks; how each went ("in step", "repaired", "busy",
    "failed", "backing off", "not queued").

    The locks' rows (with their connections) are read in one query, and each connection's
    client is opened once for the chunk. A lock no longer queued (read since by another
    task, e.g. after a provider event) is skipped. Locks not read (held by a worker,
    paused) are let go, for the next pass to queue again.
    """
    devices = deque(
        Device.objects.select_related("connection")
        .filter(pk__in=device_ids, removed_at__isnull=True, reconcile_queued_until__isnull=False)
        .order_by("pk")
    )
    outcomes: Counter = Counter()
    if len(devices) < len(set(device_ids)):
        outcomes["not queued"] = len(set(device_ids)) - len(devices)
    not_read: list[int] = []
    mutex = threading.Lock()
    gateways = _Gateways()
    stop_after = time.monotonic() + CHUNK_SECONDS

    def work() -> None:
        while True:
            with mutex:
                if not devices:
                    return
                if time.monotonic() > stop_after:
                    # A slow provider: the rest is let go for the next pass, well inside
                    # django-q2's task timeout.
                    outcomes["left for the next pass"] += len(devices)
                    not_read.extend(device.pk for device in devices)
                    devices.clear()
                    return
                device = devices.popleft()
            try:
                done = _reconcile_one(device, gateways)
            except Exception:  # one lock's bug must not stop the chunk
                logger.exception("Lock %s: read-back failed", device.pk)
                done = "failed: unexpected"
            if isinstance(done, ReconcileResult):
                outcome = "busy" if done.busy else "repaired" if done.findings else "in step"
            else:
                outcome = done.split(":")[0]
            with mutex:
                outcomes[outcome] += 1
                if outcome in ("busy", "backing off") or done == "failed: unexpected":
                    not_read.append(device.pk)

    width = min(concurrency or readback_concurrency(), len(devices))
    try:
        if width <= 1 or db_connection.in_atomic_block:
            # In this thread: a caller's open transaction holds rows other connections
            # cannot see yet.
            work()
        else:
            with ThreadPoolExecutor(max_workers=width, thread_name_prefix="keystay-read") as pool:
                for run in [pool.submit(_in_own_thread, work) for _ in range(width)]:
                    run.result()
    finally:
        gateways.close()
        lock_services.devices_unqueue_for_reconcile(device_ids=not_read)
    return outcomes


def _in_own_thread(work) -> None:
    try:
        work()
    finally:
        # The thread opened its own database connection: close it, or it lingers until the
        # database gives up on it.
        db_connections.close_all()
