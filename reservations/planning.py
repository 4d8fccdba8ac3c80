"""Planning: what each lock should hold for a stay, and when work on it is due.

`reservation_replan` runs in the caller's transaction whenever anything that matters
changes (the stay, its listing, its overrides, the listing's locks). It writes, per lock,
the wanted code and window and `due_at`, the next instant work is due, and asks the
provisioning worker (reservations.provisioning) to run once the transaction commits. It
never calls the provider: the worker does, at the due instants.

A plan is a field update; a lock the stay no longer uses is a state change, made through
reservations.access_states like every other change of a lock access's state.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from django.db import DatabaseError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from redis.exceptions import RedisError

from core.timezones import format_instant
from locks.models import Device, LockAssignment
from properties.models import MAX_OVERRIDE_EXTENSION_MINUTES, CodeStyle, Listing

from . import access_states, signals
from .codes import CodeRefused, LockRules, check_code, generate_code, phone_digits
from .models import AccessOverride, LockAccess, Reservation, ReservationCode
from .prearrival_times import prearrival_schedule_for
from .selectors import taken_codes

logger = logging.getLogger(__name__)

State = LockAccess.State
Reason = LockAccess.Reason
# A code leaving for these reasons is "revoked"; at the end of its window, "removed".
REVOKING_REASONS = {
    Reason.CANCELLED,
    Reason.UNASSIGNED,
    Reason.NO_GUEST_ACCESS,
    Reason.NO_STAFF_ACCESS,
    Reason.MOVED,
    Reason.VERIFICATION_REVOKED,
    Reason.OFFBOARDED,
}
FINAL_STATES = LockAccess.FINAL_STATES


def gone_state(reason: str) -> str:
    """What a code gone from its lock is: revoked when it left early for a reason staff
    or the PMS gave, removed at the end of its window."""
    return State.REVOKED if (reason or Reason.WINDOW_ENDED) in REVOKING_REASONS else State.REMOVED


@dataclass(frozen=True)
class Plan:
    code: str
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    program_at: datetime.datetime


def override_limits(
    *,
    window: tuple[datetime.datetime, datetime.datetime],
    extension: datetime.timedelta,
    neighbours,
) -> tuple[datetime.datetime, datetime.datetime]:
    """The earliest start and latest end of an override of a stay with this window.

    At most `extension` beyond the window on each side, and never into another confirmed
    stay on the lock: `neighbours` are those stays' (check-in, check-out). Check-in and
    check-out, not their buffered windows, which may touch on a same-day turnover. Only
    the extension is bounded: a stay that overlaps this one's own window (a double
    booking) does not make the stay's window itself out of bounds.
    """
    window_start, window_end = window
    earliest, latest = window_start - extension, window_end + extension
    for check_in, check_out in neighbours:
        if check_in < window_start:
            earliest = max(earliest, min(check_out, window_start))
        if check_out > window_end:
            latest = min(latest, max(check_in, window_end))
    return earliest, latest


def _override_limits(
    reservation: Reservation, device_id: int
) -> tuple[datetime.datetime, datetime.datetime]:
    window = reservation.window
    extension = reservation.listing.override_max_extension
    neighbours = (
        Reservation.objects.filter(
            status=Reservation.Status.CONFIRMED,
            listing__assignments__device_id=device_id,
            listing__assignments__guest_access=True,
            check_in__lt=window[1] + extension,
            check_out__gt=window[0] - extension,
        )
        .exclude(pk=reservation.pk)
        .values_list("check_in", "check_out")
        .distinct()
    )
    return override_limits(window=window, extension=extension, neighbours=list(neighbours))


def _plan(reservation: Reservation, code: str, override: AccessOverride | None) -> Plan:
    starts, ends = reservation.window
    lead = reservation.listing.lead_time
    if override is not None:
        code = override.code or code
        starts = override.starts_at or starts
        ends = override.ends_at or ends
        if override.lead_time_minutes is not None:
            lead = datetime.timedelta(minutes=override.lead_time_minutes)
    if reservation.ended_at is not None:
        ends = min(ends, reservation.ended_at)
    return Plan(code=code, starts_at=starts, ends_at=ends, program_at=starts - lead)


def _guest_locks(listing: Listing) -> list[LockAssignment]:
    assignments = (
        listing.assignments.filter(guest_access=True, device__removed_at__isnull=True)
        .select_related("device__connection")
        .order_by("pk")
    )
    # A door that cannot take codes at all (an entrance on the demo's fake Seam server)
    # is left out, and says so on the entrance, rather than failing every few minutes.
    return [a for a in assignments if not a.device.codes_unsupported]


def _rules(assignments: list[LockAssignment]) -> list[LockRules]:
    return [
        LockRules.of(a.device)
        for a in assignments
        if a.device.kind == Device.Kind.LOCK and a.device.can_specify_pin_code
    ]


def _code_is_kept(reservation: Reservation, code: ReservationCode, now) -> bool:
    """Once the guest has the code, or the stay began, dates move only the window."""
    return code.sent_at is not None or now >= reservation.window[0]


def _ensure_code(
    reservation: Reservation, assignments: list[LockAssignment], now, *, force_new=False
) -> str:
    rules = _rules(assignments)
    starts, ends = reservation.window
    taken = taken_codes(
        device_ids=[a.device_id for a in assignments],
        start=starts - reservation.listing.lead_time,
        end=ends,
        exclude_reservation_id=reservation.pk,
    )
    existing = ReservationCode.objects.filter(reservation=reservation).first()
    code = _choose_code(reservation, existing, rules, taken, now, force_new=force_new)
    if existing is not None and code == existing.value:
        return code
    if existing is None:
        existing = ReservationCode(reservation=reservation, generated_at=now)
        signals.announce(signals.CODE_GENERATED, reservation_id=reservation.pk, at=now)
    else:
        existing.rotated_at = now
    existing.value = code
    existing.generated_at = now
    existing.save()
    return code


def _choose_code(
    reservation: Reservation,
    existing: ReservationCode | None,
    rules: list[LockRules],
    taken: set[str],
    now,
    *,
    force_new=False,
) -> str:
    """The stay's code for its locks: `existing`'s value when it is kept (the guest has it,
    the stay began, or it still fits), else a new one (never the old one). Raises
    CodeRefused when no code fits. Reads nothing: the caller gives what is `taken`."""
    use_phone = reservation.listing.code_style == CodeStyle.PHONE
    if existing is not None and not force_new:
        if _code_is_kept(reservation, existing, now):
            return existing.value
        try:
            check_code(
                existing.value,
                rules=rules,
                taken=taken,
                guest_phone_digits=phone_digits(reservation.guest_phone),
                allow_phone=use_phone,
            )
            return existing.value
        except CodeRefused:
            logger.info("Reservation %s: its code no longer fits its locks", reservation.pk)
    if existing is not None:
        taken.add(existing.value)  # a rotation never lands on the old code
    return generate_code(
        rules=rules,
        taken=taken,
        preferred_length=reservation.listing.code_length,
        guest_phone=reservation.guest_phone,
        use_phone=use_phone,
    )


def _leave_reason(reservation: Reservation, access: LockAccess, listing_id: int) -> str:
    if reservation.status == Reservation.Status.CANCELLED:
        return Reason.CANCELLED
    if _held(reservation) and access.device_id in _held_devices(reservation):
        return Reason.VERIFICATION_REVOKED
    if reservation.ended_at is not None or reservation.status == Reservation.Status.CHECKED_OUT:
        return Reason.ENDED_EARLY if timezone.now() < access.ends_at else Reason.WINDOW_ENDED
    if access.assignment_id is None or access.assignment.listing_id != listing_id:
        return Reason.MOVED if access.assignment_id else Reason.UNASSIGNED
    if not access.assignment.guest_access:
        return Reason.NO_GUEST_ACCESS
    return Reason.UNASSIGNED


def _next_due(access: LockAccess, now) -> datetime.datetime | None:
    if access.state in FINAL_STATES and not access.wanted:
        return None
    if not access.wanted:
        if access.provider_id or access.provider_user_id or access.attempts:
            return now
        return None
    if access.state in FINAL_STATES:
        return None  # the window is over and the code is gone
    if now >= access.ends_at:
        return now  # remove (or never program) a code whose window has ended
    if not access.provider_id:
        return max(access.program_at, now)
    if _needs_update(access, now):
        return now  # a code already on the lock follows its plan at once
    return access.ends_at


def _needs_update(access: LockAccess, now) -> bool:
    if access.code and access.code != access.provider_code:
        return True
    if access.provider_ends_at != access.ends_at:
        return True
    sent_start = access.provider_starts_at
    if sent_start is None:
        return True
    if access.starts_at > sent_start:
        return True  # the window now opens later
    # An earlier start matters only while the provider's start is still ahead.
    return access.starts_at < sent_start and sent_start > now


def _doors_told(accesses) -> dict[int, tuple[str, datetime.datetime, datetime.datetime]]:
    """What the guest can be told of each door the stay uses: its code and window. A
    change here (a new code, a door added or dropped, other times) is a changed code. A
    code held until the guest is verified is told to nobody."""
    return {
        access.device_id: (access.door_code, access.starts_at, access.ends_at)
        for access in accesses
        if access.wanted and access.state not in FINAL_STATES | {State.HELD}
    }


def _held(reservation: Reservation) -> bool:
    """A live stay whose code waits for its guest's verification (and whose stay is not
    over: a code is never held back from a guest already inside)."""
    return reservation.is_live and reservation.code_held


def _held_devices(reservation: Reservation) -> set[int]:
    return getattr(reservation, "_held_device_ids", set())


def _must_leave_for_hold(access: LockAccess | None, now) -> bool:
    """A lock of a held stay whose code is at the provider, or on its way there or off
    it: the code comes off (a verification revoked) before the lock is held."""
    if access is None or access.state in FINAL_STATES | {State.HELD}:
        return False
    claimed = access.claimed_until is not None and access.claimed_until > now
    return _at_provider(access) or claimed or access.state == State.REMOVING


def _write_plans(
    *,
    holder: dict,
    organization_id: int,
    accesses: dict[int, LockAccess],
    wanted: dict[int, tuple[LockAssignment, Plan]],
    failure: str,
    leave_reason,
    now,
    held: bool = False,
    save=None,
) -> list[LockAccess]:
    """Write each lock's plan for one holder (a stay or a turnover): `wanted` by device,
    the holder's other `accesses` (locked by the caller) leave their locks for
    `leave_reason(access)`. `failure`: no code fits every lock (each wanted lock fails).
    `held`: a stay's code waiting for its guest's verification, planned on no lock.
    `save(access, is_new)`: who writes each row (the bulk planner collects them and
    writes them together); by default each row is saved at once. Returns the rows
    written."""
    save = save or _save_plan
    touched: list[LockAccess] = []
    for device_id, (assignment, plan) in wanted.items():
        access = accesses.pop(device_id, None)
        if access is None:
            access = LockAccess(**holder, organization_id=organization_id, device_id=device_id)
        is_new = access.pk is None
        was_final = access.state in FINAL_STATES
        access.assignment = assignment
        access.wanted = True
        access.reason = Reason.NONE
        if plan.code or not _at_provider(access):
            access.code = plan.code  # without a new code, the one on the lock stays
        access.starts_at, access.ends_at = plan.starts_at, plan.ends_at
        access.program_at = plan.program_at
        if was_final and now < plan.ends_at:
            access_states.move(access, State.PLANNED)  # a lock given back to the stay
        if held:
            if access.state not in FINAL_STATES:
                access_states.move(access, State.HELD)
        elif access.state == State.HELD:
            access_states.move(access, State.PLANNED)  # verified: due at its instant
        if failure:
            access_states.move(access, State.FAILED)
            access.last_error, access.last_error_at = failure, now
            # A code already on the lock still has to leave it at the end of its window.
            access.due_at = access.ends_at if _at_provider(access) else None
        elif held:
            access.last_error = ""
            access.due_at = None  # nothing to do on the lock until the guest is verified
        else:
            if access.state == State.FAILED and access.attempts == 0:
                access_states.move(access, State.PLANNED)
                access.last_error = ""
            access.due_at = _next_due(access, now)
        save(access, is_new)
        touched.append(access)

    for access in accesses.values():  # locks the stay no longer uses
        if access.wanted or access.state not in FINAL_STATES:
            access.wanted = False
            access.reason = leave_reason(access)
            claimed = access.claimed_until is not None and access.claimed_until > now
            if not (_at_provider(access) or access.attempts or claimed):
                # Never reached the provider (and no worker is on it): nothing to remove.
                access_states.move(access, gone_state(access.reason))
                access.removed_at = now
            access.due_at = _next_due(access, now)
            if claimed:
                access.due_at = now  # the worker finishes, then the removal runs
            save(access, False)
            touched.append(access)
    return touched


def _save_plan(access: LockAccess, is_new: bool) -> None:
    if is_new:
        access.save()
    else:
        access.save(update_fields=PLAN_FIELDS)


@transaction.atomic
def reservation_replan(*, reservation: Reservation, now=None) -> None:
    """Bring every lock's plan in line with the reservation, its listing and overrides.

    Changes the affected locks alone; enqueues processing when the transaction commits.
    """
    now = now or timezone.now()
    # One re-plan of a reservation at a time: the plan is read, then written.
    reservation = (
        Reservation.objects.select_for_update()
        .select_related("listing__property")
        .get(pk=reservation.pk)
    )
    listing = reservation.listing
    # Lock the rows: a worker recording a provider outcome waits for this plan, then
    # re-reads it (and a plan never overwrites the provider's fields: see PLAN_FIELDS).
    accesses = {
        a.device_id: a
        for a in reservation.lock_accesses.select_for_update(of=("self",)).select_related(
            "assignment", "device"
        )
    }
    told_before = _doors_told(accesses.values())
    was_held = any(a.state == State.HELD for a in accesses.values())
    held = _held(reservation)
    wanted: dict[int, tuple[LockAssignment, Plan]] = {}
    failure = ""
    trimmed_neighbours: set[int] = set()
    if reservation.is_live:
        assignments = _guest_locks(listing)
        overrides = {
            o.assignment_id: o
            for o in reservation.overrides.select_related("assignment", "reservation__listing")
        }
        for override in overrides.values():
            _override_trim(override, now)
        trimmed_neighbours = _trim_neighbours_overrides(reservation, assignments, now)
        try:
            code = _ensure_code(reservation, assignments, now)
        except CodeRefused as refusal:
            code, failure = "", str(refusal)
        for assignment in assignments:
            wanted[assignment.device_id] = (
                assignment,
                _plan(reservation, code, overrides.get(assignment.pk)),
            )
    if held:
        # The planner plans no step on the lock for a held stay; a code already at the
        # provider (a verification revoked) leaves it first, with the locks below.
        leaving = {d for d in wanted if _must_leave_for_hold(accesses.get(d), now)}
        reservation._held_device_ids = leaving
        for device_id in leaving:
            del wanted[device_id]

    touched = _write_plans(
        holder={"reservation": reservation},
        organization_id=reservation.organization_id,
        accesses=accesses,
        wanted=wanted,
        failure=failure,
        leave_reason=lambda access: _leave_reason(reservation, access, listing.pk),
        now=now,
        held=held,
    )

    _prearrival_reschedule(reservation, now)
    reservation_id = reservation.pk
    told_after = _doors_told(
        LockAccess.objects.filter(reservation_id=reservation_id).select_related("device")
    )
    # (A held code was told to nobody, but what waited for it, say an email, goes too.)
    if reservation.status == Reservation.Status.CANCELLED and (told_before or was_held):
        signals.announce(signals.CODE_REVOKED, reservation_id=reservation_id, at=now)
    elif reservation.is_live and not held and told_before and told_after != told_before:
        signals.announce(signals.CODE_CHANGED, reservation_id=reservation_id, at=now)
    # A worker now only for a step due now (a stay next month, or at a listing without
    # locks, has none): the sweep carries out every later step when it falls due.
    if any(access.due_at is not None and access.due_at <= now for access in touched):
        transaction.on_commit(lambda: enqueue_processing(reservation_id))
    # The turnovers around the stay follow its dates, its listing and its status.
    from .turnovers import turnovers_follow_stay

    turnovers_follow_stay(reservation=reservation, now=now)
    # Their overrides were trimmed to keep out of this stay: their locks follow at once.
    # Trimming is idempotent, so these re-plans trim nothing more and stop here.
    for neighbour in Reservation.objects.filter(pk__in=trimmed_neighbours).order_by("pk"):
        reservation_replan(reservation=neighbour, now=now)


def _prearrival_reschedule(reservation: Reservation, now) -> None:
    """Keep the next pre-arrival check in step with the stay's dates (and its listing's
    check hours); a check that is due, or put off a few minutes, stays as it is."""
    check_at = prearrival_schedule_for(
        reservation=reservation, stored=reservation.prearrival_check_at, now=now
    )
    if check_at != reservation.prearrival_check_at:
        Reservation.objects.filter(pk=reservation.pk).update(prearrival_check_at=check_at)
        reservation.prearrival_check_at = check_at


def _override_trim(override: AccessOverride, now) -> bool:
    """Narrow an override's window to its limits, recording why; True when it changed.

    The window it was given was within bounds then; a stay booked into it since, or a
    smaller bound on the listing, must not leave this guest's code on the door.
    """
    if override.starts_at is None and override.ends_at is None:
        return False  # the stay's own window: nothing beyond it to trim
    earliest, latest = _override_limits(override.reservation, override.assignment.device_id)
    starts, ends = override.starts_at, override.ends_at
    if starts is not None and starts < earliest:
        starts = earliest
    if ends is not None and ends > latest:
        ends = latest
    if (starts, ends) == (override.starts_at, override.ends_at):
        return False
    if starts is not None and ends is not None and ends <= starts:
        starts = ends = None  # nothing of it is left: the lock follows the stay's window
    zone = override.reservation.listing.property.zone
    note = (
        f"Trimmed from {_span(override.starts_at, override.ends_at, zone)} "
        f"to {_span(starts, ends, zone)}: beyond its bound or into another stay."
    )
    logger.info("Override %s of reservation %s: %s", override.pk, override.reservation_id, note)
    override.starts_at, override.ends_at = starts, ends
    override.trimmed_at, override.trim_note = now, note
    override.save(update_fields=["starts_at", "ends_at", "trimmed_at", "trim_note", "updated_at"])
    return True


def _span(starts: datetime.datetime | None, ends: datetime.datetime | None, zone) -> str:
    """An override's window as its note says it, in the property's time, zone named."""
    if starts is None and ends is None:
        return "the stay's own window"
    start = format_instant(starts, zone) if starts is not None else "the stay's start"
    end = format_instant(ends, zone) if ends is not None else "the stay's end"
    return f"{start} – {end}"


def _trim_neighbours_overrides(
    reservation: Reservation, assignments: list[LockAssignment], now
) -> set[int]:
    """Trim other stays' overrides that reach into this stay on its locks; returns the ids
    of the stays whose overrides changed."""
    if not assignments:
        return set()
    # Candidates: overrides with their own window, of confirmed stays close enough that
    # their window (and so their override) may reach this stay; each is then trimmed by
    # the same limits as when it was set.
    reach = datetime.timedelta(days=1) + datetime.timedelta(minutes=MAX_OVERRIDE_EXTENSION_MINUTES)
    candidates = (
        AccessOverride.objects.filter(
            assignment__device_id__in=[a.device_id for a in assignments],
            reservation__status=Reservation.Status.CONFIRMED,
            reservation__check_in__lt=reservation.check_out + reach,
            reservation__check_out__gt=reservation.check_in - reach,
        )
        .filter(Q(starts_at__isnull=False) | Q(ends_at__isnull=False))
        .exclude(reservation_id=reservation.pk)
        .select_related("assignment", "reservation__listing")
    )
    return {o.reservation_id for o in candidates if _override_trim(o, now)}


# What planning writes; a worker writes the provider's side (ids, codes, times, claims).
PLAN_FIELDS = [
    "assignment",
    "wanted",
    "reason",
    "code_ciphertext",
    "starts_at",
    "ends_at",
    "program_at",
    "state",
    "due_at",
    "last_error",
    "last_error_at",
    "removed_at",
    "updated_at",
]


def _at_provider(access: LockAccess) -> bool:
    return bool(access.provider_id or access.provider_user_id)


def enqueue_processing(reservation_id: int) -> None:
    """Ask a worker to carry out the stay's due steps now rather than at the next sweep.

    Only a shortcut: the steps are due instants in the database. When the broker cannot
    take the task (Redis restarting), the change that asked for it is saved all the same
    and the periodic sweep carries the steps out, so the failure is logged, not raised —
    raised, it would turn a saved cancellation into an error page.
    """
    from django_q.tasks import async_task

    try:
        async_task("reservations.tasks.process_reservation", reservation_id, group="lifecycle")
    except (RedisError, DatabaseError) as error:
        logger.warning(
            "Reservation %s: work not queued (%s); the sweep will carry it out",
            reservation_id,
            error,
        )


def enqueue_turnover_processing(turnover_id: int) -> None:
    """enqueue_processing for a turnover's code."""
    from django_q.tasks import async_task

    try:
        async_task("reservations.tasks.process_turnover", turnover_id, group="lifecycle")
    except (RedisError, DatabaseError) as error:
        logger.warning(
            "Turnover %s: work not queued (%s); the sweep will carry it out", turnover_id, error
        )


def enqueue_standing_processing(standing_id: int) -> None:
    """enqueue_processing for a standing crew code (reservations.standing)."""
    from django_q.tasks import async_task

    try:
        async_task("reservations.tasks.process_standing", standing_id, group="lifecycle")
    except (RedisError, DatabaseError) as error:
        logger.warning(
            "Standing access %s: work not queued (%s); the sweep will carry it out",
            standing_id,
            error,
        )


def enqueue_holder(holder: tuple[str, int]) -> None:
    """Enqueue the processing of one holder's codes (LockAccess.holder_key)."""
    kind, pk = holder
    if kind == "standing":
        enqueue_standing_processing(pk)
    elif kind == "turnover":
        enqueue_turnover_processing(pk)
    else:
        enqueue_processing(pk)


def _stays_with_codes(now) -> Q:
    """Stays that still have, or will have, codes on locks."""
    return (
        Q(status=Reservation.Status.CONFIRMED, check_out__gt=now - datetime.timedelta(days=1))
        | Q(lock_accesses__due_at__isnull=False)
        | Q(
            lock_accesses__state__in=[
                State.REQUESTED,
                State.CONFIRMED,
                State.PROGRAMMING,
                State.FAILED,
            ]
        )
    )


def stays_to_replan(*, listing_ids, now) -> QuerySet[Reservation]:
    """The stays of these listings that still have, or will have, codes on locks."""
    return (
        Reservation.objects.filter(listing_id__in=set(listing_ids))
        .filter(_stays_with_codes(now))
        .distinct()
        .order_by("pk")
    )


def listings_replan(*, listing_ids, now=None) -> int:
    """Re-plan the stays of several listings in the caller's transaction, a chunk of
    stays at a time through the bulk planner (reservations.bulk_planning)."""
    from .bulk_planning import stays_replan

    now = now or timezone.now()
    ids = list(stays_to_replan(listing_ids=listing_ids, now=now).values_list("pk", flat=True))
    plain: dict[str, str] = {}
    for start in range(0, len(ids), REPLAN_CHUNK):
        stays_replan(reservation_ids=ids[start : start + REPLAN_CHUNK], now=now, plain_codes=plain)
    return len(ids)


# Stays per bulk re-plan: per chunk a handful of reads and writes, whatever its size;
# one chunk is one short transaction of the listing import's re-plan.
REPLAN_CHUNK = 200


def listings_replan_in_chunks(*, listing_ids, chunk: int = REPLAN_CHUNK) -> int:
    """Re-plan the stays of many listings, `chunk` stays per short transaction.

    For bulk changes (the listing import): no write transaction holds the database
    for long, so the web process and the cluster keep writing beside it (on SQLite, a
    long write transaction makes the other process give up with "database is locked").
    """
    from .bulk_planning import stays_replan

    now = timezone.now()
    ids = list(stays_to_replan(listing_ids=listing_ids, now=now).values_list("pk", flat=True))
    plain: dict[str, str] = {}  # codes decrypted once for every chunk
    for start in range(0, len(ids), chunk):
        with transaction.atomic():
            stays_replan(reservation_ids=ids[start : start + chunk], plain_codes=plain)
    return len(ids)


def stays_replan_one_by_one(*, reservation_ids, chunk: int = 50) -> int:
    """The stays re-planned one at a time by reservation_replan, `chunk` stays per
    transaction: how listings re-planned before the bulk planner, which must reach the
    same plans (its tests compare the two) and which `make bench` times beside it."""
    ids = sorted(set(reservation_ids))
    for start in range(0, len(ids), chunk):
        with transaction.atomic():
            for reservation in Reservation.objects.filter(pk__in=ids[start : start + chunk]):
                reservation_replan(reservation=reservation)
    return len(ids)
