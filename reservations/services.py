"""The code lifecycle: plan every lock's part of a stay, then carry the plan out on time.

Two halves, as in healthchecks' sendalerts:
- Planning (`reservation_replan`) runs in the caller's transaction whenever anything that
  matters changes. It writes, per lock, the wanted code and window and `due_at`, the next
  instant work is due, and enqueues processing once the transaction commits.
- Processing (`process_due`) finds due rows, claims each with a compare-and-set on
  `claimed_until` (so two workers never work one row), calls Seam outside any lock, and
  records the outcome, re-reading the plan in case it changed meanwhile.
"""

from __future__ import annotations

import datetime
import logging
import re
import threading
import time
import uuid
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.db import connection as db_connection
from django.db import connections as db_connections
from django.db.models import Q, QuerySet
from django.db.models.functions import Greatest
from django.utils import timezone
from redis.exceptions import RedisError

from core.timezones import RANGE_MESSAGE, format_instant, in_year_range
from locks import pacing
from locks.gateway import ProviderError, SeamGateway
from locks.models import Device, LockAssignment
from properties.models import (
    MAX_CODE_LEAD_MINUTES,
    MAX_OVERRIDE_EXTENSION_MINUTES,
    CodeStyle,
    Listing,
)

from . import signals
from .alerts import alert_open, alert_resolve
from .codes import CodeRefused, LockRules, check_code, generate_code, phone_digits
from .doors import send_problem
from .models import (
    AccessOverride,
    DeviceAlert,
    LockAccess,
    LockAccessLog,
    Reservation,
    ReservationCode,
)
from .prearrival_times import prearrival_schedule_for
from .selectors import taken_codes

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
# A code leaving for these reasons is "revoked"; at the end of its window, "removed".
AT_PROVIDER = LockAccess.AT_PROVIDER_STATES
Log = LockAccessLog.Kind
REVOKING_REASONS = {Reason.CANCELLED, Reason.UNASSIGNED, Reason.NO_GUEST_ACCESS, Reason.MOVED}
FINAL_STATES = LockAccess.FINAL_STATES


# --------------------------------------------------------------------------- planning


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
    code = generate_code(
        rules=rules,
        taken=taken,
        preferred_length=reservation.listing.code_length,
        guest_phone=reservation.guest_phone,
        use_phone=use_phone,
    )
    if existing is None:
        existing = ReservationCode(reservation=reservation, generated_at=now)
        signals.announce(signals.CODE_GENERATED, reservation_id=reservation.pk, at=now)
    else:
        existing.rotated_at = now
    existing.value = code
    existing.generated_at = now
    existing.save()
    return code


def _leave_reason(reservation: Reservation, access: LockAccess, listing_id: int) -> str:
    if reservation.status == Reservation.Status.CANCELLED:
        return Reason.CANCELLED
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
    change here (a new code, a door added or dropped, other times) is a changed code."""
    return {
        access.device_id: (access.door_code, access.starts_at, access.ends_at)
        for access in accesses
        if access.wanted and access.state not in FINAL_STATES
    }


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

    for device_id, (assignment, plan) in wanted.items():
        access = accesses.pop(device_id, None)
        if access is None:
            access = LockAccess(
                reservation=reservation,
                organization_id=reservation.organization_id,
                device_id=device_id,
            )
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
            access.state = State.PLANNED  # a lock given back to the stay
        if failure:
            access.state, access.last_error, access.last_error_at = State.FAILED, failure, now
            # A code already on the lock still has to leave it at the end of its window.
            access.due_at = access.ends_at if _at_provider(access) else None
        else:
            if access.state == State.FAILED and access.attempts == 0:
                access.state, access.last_error = State.PLANNED, ""
            access.due_at = _next_due(access, now)
        if is_new:
            access.save()
        else:
            access.save(update_fields=PLAN_FIELDS)

    for access in accesses.values():  # locks the stay no longer uses
        if access.wanted or access.state not in FINAL_STATES:
            access.wanted = False
            access.reason = _leave_reason(reservation, access, listing.pk)
            claimed = access.claimed_until is not None and access.claimed_until > now
            if not (_at_provider(access) or access.attempts or claimed):
                # Never reached the provider (and no worker is on it): nothing to remove.
                access.state = (
                    State.REVOKED if access.reason in REVOKING_REASONS else State.REMOVED
                )
                access.removed_at = now
            access.due_at = _next_due(access, now)
            if claimed:
                access.due_at = now  # the worker finishes, then the removal runs
            access.save(update_fields=PLAN_FIELDS)

    _prearrival_reschedule(reservation, now)
    reservation_id = reservation.pk
    told_after = _doors_told(
        LockAccess.objects.filter(reservation_id=reservation_id).select_related("device")
    )
    if reservation.status == Reservation.Status.CANCELLED and told_before:
        signals.announce(signals.CODE_REVOKED, reservation_id=reservation_id, at=now)
    elif reservation.is_live and told_before and told_after != told_before:
        signals.announce(signals.CODE_CHANGED, reservation_id=reservation_id, at=now)
    transaction.on_commit(lambda: enqueue_processing(reservation_id))
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
    """Re-plan the stays of several listings; one query finds the listings with any."""
    now = now or timezone.now()
    count = 0
    for reservation in stays_to_replan(listing_ids=listing_ids, now=now):
        reservation_replan(reservation=reservation, now=now)
        count += 1
    return count


REPLAN_CHUNK = 50


def listings_replan_in_chunks(*, listing_ids, chunk: int = REPLAN_CHUNK) -> int:
    """Re-plan the stays of many listings, `chunk` stays per short transaction.

    For bulk changes (the listing import): no write transaction holds the database
    for long, so the web process and the cluster keep writing beside it (on SQLite, a
    long write transaction makes the other process give up with "database is locked").
    """
    now = timezone.now()
    ids = list(stays_to_replan(listing_ids=listing_ids, now=now).values_list("pk", flat=True))
    for start in range(0, len(ids), chunk):
        with transaction.atomic():
            for reservation in Reservation.objects.filter(pk__in=ids[start : start + chunk]):
                reservation_replan(reservation=reservation)
    return len(ids)


# ------------------------------------------------------------------ status changes


def _stamp_status(reservation: Reservation, previous_status: str | None, now) -> None:
    if reservation.status == previous_status:
        return
    if reservation.status == Reservation.Status.CONFIRMED:
        reservation.confirmed_at = reservation.confirmed_at or now
    if reservation.status == Reservation.Status.CANCELLED:
        reservation.cancelled_at = now


# Which status a reservation may take next, from every surface (admin, API, import).
# A stay is checked out only by `reservation_end_stay` (which stamps when), and a stay
# that is over stays over.
Status = Reservation.Status
STATUS_TRANSITIONS: dict[str, frozenset[str]] = {
    Status.PENDING: frozenset({Status.CONFIRMED, Status.CANCELLED}),
    Status.CONFIRMED: frozenset({Status.PENDING, Status.CANCELLED}),
    Status.CANCELLED: frozenset({Status.PENDING, Status.CONFIRMED}),
    Status.CHECKED_OUT: frozenset(),
}


def status_change_problem(*, previous: str | None, status: str) -> str | None:
    """Why a reservation cannot go from `previous` (None: a new one) to `status`."""
    if status == previous:
        return None
    if status == Status.CHECKED_OUT:
        return "A stay is checked out by ending it (End stay), which records when."
    if previous is None:
        return None
    if status not in STATUS_TRANSITIONS[previous]:
        if previous == Status.CHECKED_OUT:
            return "This stay has ended; its status cannot change."
        return (
            f"A {Status(previous).label.lower()} reservation cannot become "
            f"{Status(status).label.lower()}."
        )
    return None


@transaction.atomic
def reservation_save(*, reservation: Reservation, now=None) -> Reservation:
    """Save a new or changed reservation: the one writer every surface goes through.

    Checks the status change, validates, stamps when it was confirmed or cancelled, and
    re-plans its locks in the same transaction.
    """
    now = now or timezone.now()
    previous = None
    if reservation.pk is not None:
        previous = Reservation.objects.values_list("status", flat=True).get(pk=reservation.pk)
    problem = status_change_problem(previous=previous, status=reservation.status)
    if problem:
        raise ValidationError({"status": problem})
    reservation.full_clean()
    _stamp_status(reservation, previous, now)
    reservation.save()
    reservation_replan(reservation=reservation, now=now)
    return reservation


def reservation_create(*, listing: Listing, now=None, **fields) -> Reservation:
    return reservation_save(reservation=Reservation(listing=listing, **fields), now=now)


def reservation_update(*, reservation: Reservation, now=None, **fields) -> Reservation:
    for name, value in fields.items():
        setattr(reservation, name, value)
    return reservation_save(reservation=reservation, now=now)


def reservation_confirm(*, reservation: Reservation, now=None) -> Reservation:
    return reservation_update(
        reservation=reservation, status=Reservation.Status.CONFIRMED, now=now
    )


def reservation_cancel(*, reservation: Reservation, now=None) -> Reservation:
    """Revoke the code at once, on every lock, whatever state it is in."""
    if reservation.status == Reservation.Status.CHECKED_OUT:
        raise ValidationError("This stay is over: there is nothing to cancel.")
    return reservation_update(
        reservation=reservation, status=Reservation.Status.CANCELLED, now=now
    )


@transaction.atomic
def reservation_end_stay(*, reservation: Reservation, now=None) -> Reservation:
    """Staff end a stay early: the code leaves every lock now."""
    now = now or timezone.now()
    if reservation.status != Reservation.Status.CONFIRMED:
        raise ValidationError("Only a confirmed stay can be ended.")
    reservation.ended_at = now
    reservation.status = Reservation.Status.CHECKED_OUT
    reservation.save(update_fields=["ended_at", "status", "updated_at"])
    reservation_replan(reservation=reservation, now=now)
    return reservation


@transaction.atomic
def code_rotate(*, reservation: Reservation, now=None) -> str:
    """A leaked code: a new code on every lock, replacing the old one in place."""
    now = now or timezone.now()
    reservation = Reservation.objects.select_for_update().get(pk=reservation.pk)
    if not reservation.is_live:
        raise ValidationError("Only a confirmed, ongoing or coming stay gets a new code.")
    code = _ensure_code(reservation, _guest_locks(reservation.listing), now, force_new=True)
    ReservationCode.objects.filter(reservation=reservation).update(sent_at=None)
    reservation_replan(reservation=reservation, now=now)
    return code


def code_mark_sent(*, reservation: Reservation, now=None) -> None:
    """Staff told the guest their code (by hand). Refused, with the reason, when the stay
    has no code that opens a door."""
    now = now or timezone.now()
    problem = send_problem(reservation, now)
    if problem:
        raise ValidationError(problem)
    ReservationCode.objects.filter(reservation=reservation).update(sent_at=now)


def access_retry_now(*, access: LockAccess, now=None) -> None:
    """Staff ask for another try at once (after fixing a lock, say)."""
    now = now or timezone.now()
    LockAccess.objects.filter(pk=access.pk).exclude(state__in=FINAL_STATES).update(
        due_at=now, attempts=0
    )
    reservation_id = access.reservation_id
    transaction.on_commit(lambda: enqueue_processing(reservation_id))


def override_problems(
    *,
    reservation: Reservation,
    assignment: LockAssignment,
    code: str = "",
    lead_time_minutes: int | None = None,
    starts_at=None,
    ends_at=None,
) -> dict[str, str]:
    """Why this override cannot be set, by field ({} when it can): the admin's form and the
    API both ask here."""
    if assignment.listing_id != reservation.listing_id:
        return {"assignment": "This lock is not at the reservation's listing."}
    if not assignment.guest_access:
        return {"assignment": "Guests' codes do not go on this lock (no guest access)."}
    # Ranges first: nothing below may compute with a year 1 or a lead time of centuries.
    problems = {}
    if lead_time_minutes is not None and not 0 <= lead_time_minutes <= MAX_CODE_LEAD_MINUTES:
        problems["lead_time_minutes"] = (
            f"Use 0 to {MAX_CODE_LEAD_MINUTES} minutes (a week) at most."
        )
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if value is not None and not in_year_range(value):
            problems[name] = RANGE_MESSAGE
    if problems:
        return problems
    window_start, window_end = reservation.window
    starts, ends = starts_at or window_start, ends_at or window_end
    if ends <= starts:
        return {"ends_at": "The window must end after it starts."}
    if starts_at is not None or ends_at is not None:
        earliest, latest = _override_limits(reservation, assignment.device_id)
        zone = reservation.listing.property.zone
        bound = _duration(reservation.listing.override_max_extension)
        if starts < earliest:
            problems["starts_at"] = (
                f"Opens too early: at most {bound} before the stay's window, and never during "
                f"another stay on this lock (from {format_instant(earliest, zone)})."
            )
        if ends > latest:
            problems["ends_at"] = (
                f"Closes too late: at most {bound} after the stay's window, and never during "
                f"another stay on this lock (until {format_instant(latest, zone)})."
            )
        if problems:
            return problems
    if code:
        lead = (
            reservation.listing.lead_time
            if lead_time_minutes is None
            else datetime.timedelta(minutes=lead_time_minutes)
        )
        device = assignment.device
        try:
            check_code(
                code,
                rules=[LockRules.of(device)],
                taken=taken_codes(
                    device_ids=[device.pk],
                    start=starts - lead,
                    end=ends,
                    exclude_reservation_id=reservation.pk,
                ),
                allow_phone=True,  # staff (or the PMS) chose it knowingly
            )
        except CodeRefused as refusal:
            return {"code": str(refusal)}
    return {}


def _duration(value: datetime.timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    if minutes % 60:
        return f"{minutes} minutes"
    return f"{minutes // 60} hour{'s' if minutes != 60 else ''}"


@transaction.atomic
def override_set(
    *,
    reservation: Reservation,
    assignment: LockAssignment,
    override: AccessOverride | None = None,
    code: str = "",
    lead_time_minutes: int | None = None,
    starts_at=None,
    ends_at=None,
) -> AccessOverride:
    """Set one lock's exception for one stay; that lock alone follows it."""
    if override is None:
        override = AccessOverride(reservation=reservation, assignment=assignment)
    override.code = code
    override.lead_time_minutes = lead_time_minutes
    override.starts_at, override.ends_at = starts_at, ends_at
    override.trimmed_at, override.trim_note = None, ""  # what staff set now stands
    override.full_clean()
    override.save()
    reservation_replan(reservation=reservation)
    return override


@transaction.atomic
def override_delete(*, override: AccessOverride) -> None:
    reservation = override.reservation
    override.delete()
    reservation_replan(reservation=reservation)


# ------------------------------------------------------------------------ processing


def _access_name(access: LockAccess) -> str:
    """Named so that Keystay can find its code again after an unanswered create."""
    prefix = _name_prefix(access)
    limit = 40
    for constraint in access.device.code_constraints:
        if constraint.get("constraint_type") == "name_length" and constraint.get("max_length"):
            limit = constraint["max_length"]
    return f"{prefix}{access.reservation.guest_name}"[:limit].rstrip()


def _name_prefix(access: LockAccess) -> str:
    return f"KS{access.reservation_id}-{access.device_id} "


# Any Keystay stay's code name (see _access_name).
_OWN_NAME = re.compile(r"^KS\d+-\d+ ")


def _claim(pk: int) -> str | None:
    now = timezone.now()
    token = uuid.uuid4().hex
    claimed = (
        LockAccess.objects.filter(pk=pk, due_at__lte=now)
        .filter(LockAccess.unclaimed(now))
        .update(claimed_until=now + LEASE, claim_token=token)
    )
    return token if claimed else None


class _Gateways:
    """One Seam client per connection for one processing run, shared by its threads
    (an httpx client is safe to share; a Retry-After is noted per thread)."""

    def __init__(self):
        self._open: dict[int, SeamGateway] = {}
        self._lock = threading.Lock()

    def for_device(self, device: Device) -> SeamGateway:
        connection = device.connection
        with self._lock:
            if connection.pk not in self._open:
                self._open[connection.pk] = SeamGateway.for_connection(connection)
            return self._open[connection.pk]

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
    return list(
        _due(now).filter(device_id=device_id).values_list("reservation_id", flat=True).distinct()
    )


# Which due step goes first. A code leaving a lock it should no longer open (cancelled,
# moved, the lock taken off the stay) before anything else; then the nearest deadline: a
# code to program is needed by the start of its window (it is programmed its lead time
# ahead, with time to spare), anything else (a removal at check-out, a change to a code in
# use, a late code) at its due instant. A backlog of codes for tomorrow's arrivals never
# holds up today's check-outs.
STEP_ORDER = ("wanted", Greatest("due_at", "starts_at"), "due_at", "pk")


def due_lock_ids(*, now, reservation_id: int | None = None, limit: int = 500) -> list[int]:
    """Locks with steps due at `now` that no worker holds, in STEP_ORDER of their first
    step (looking at `limit` steps at most)."""
    due = _due(now).filter(pacing.lease_free(now, "device__"))
    if reservation_id is not None:
        due = due.filter(reservation_id=reservation_id)
    return list(
        dict.fromkeys(due.order_by(*STEP_ORDER).values_list("device_id", flat=True)[:limit])
    )


def process_due(
    *,
    now=None,
    limit: int = 500,
    reservation_id: int | None = None,
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
    queue = _DueLocks(
        now=now or timezone.now(),
        reservation_id=reservation_id,
        limit=limit,
        stop_after=stop_after,
    )
    width = min(concurrency or provisioning_concurrency(), queue.waiting)
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

    def __init__(self, *, now, reservation_id: int | None, limit: int, stop_after):
        self._mutex = threading.Lock()
        self._reservation_id = reservation_id
        self._limit = limit
        self._turns_left = limit
        self._stop_after = stop_after
        self._working: set[int] = set()
        self._turns: Counter[int] = Counter()
        self._read(now)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def _read(self, now) -> None:
        self._read_at = time.monotonic()
        due = due_lock_ids(now=now, reservation_id=self._reservation_id, limit=self._limit)
        # A lock still due after a few turns in this run (its steps keep falling due)
        # waits for the next run rather than spinning in this one.
        self._waiting = deque(
            d for d in due if d not in self._working and self._turns[d] < TURNS_PER_RUN
        )

    def take(self) -> int | None:
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
            return device_id

    def done(self, device_id: int) -> None:
        with self._mutex:
            self._working.discard(device_id)


def _work_locks(queue: _DueLocks, gateways: _Gateways, stop_after: float | None) -> int:
    worked = 0
    while (device_id := queue.take()) is not None:
        try:
            worked += _work_lock(device_id, gateways, stop_after)
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


def _next_step(device_id: int, skip: set[int]) -> int | None:
    now = timezone.now()
    return (
        _due(now)
        .filter(device_id=device_id)
        .exclude(pk__in=skip)
        .order_by(*STEP_ORDER)
        .values_list("pk", flat=True)
        .first()
    )


def _work_lock(device_id: int, gateways: _Gateways, stop_after: float | None) -> int:
    """Hold one lock and carry out its due steps one after another, nearest first.

    Any reservation's steps on this lock, not only those that brought the worker here:
    a worker that found the lock held left its step to the holder. For the same reason
    the holder looks once more after letting go: a step that fell due just before then
    would otherwise wait for the next sweep.
    """
    worked = 0
    for _ in range(3):
        token = pacing.lease_take(device_id)
        if token is None:
            return worked  # another worker holds the lock and carries out its steps
        renewed = time.monotonic()
        tried: set[int] = set()
        try:
            while len(tried) < STEPS_PER_TURN:
                if stop_after is not None and time.monotonic() > stop_after:
                    return worked
                pk = _next_step(device_id, tried)
                if pk is None:
                    break
                tried.add(pk)
                # Renewed once half of it is gone: a step never starts on a lease that
                # could run out under it (a step takes seconds, a lease minutes).
                if time.monotonic() - renewed > RENEW_AFTER:
                    if not pacing.lease_renew(device_id, token):
                        return worked  # held past its lease: another worker has the lock
                    renewed = time.monotonic()
                row_token = _claim(pk)
                if row_token is None:
                    continue
                worked += 1
                try:
                    _process(pk, row_token, gateways)
                except Exception:  # one step's bug must not hold up the lock's others
                    logger.exception("Lock access %s: unexpected failure", pk)
                    _record_failure(
                        pk, row_token, "Unexpected error; Keystay will try again.", retryable=True
                    )
        finally:
            pacing.lease_release(device_id, token)
        if len(tried) >= STEPS_PER_TURN or _next_step(device_id, tried) is None:
            return worked
    return worked


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


def _process(pk: int, token: str, gateways: _Gateways) -> None:
    access = LockAccess.objects.select_related("device__connection", "reservation").get(pk=pk)
    if _leaving(access):
        working = State.REMOVING
    elif access.provider_id or timezone.now() >= access.program_at:
        working = access.state if access.state in AT_PROVIDER else State.PROGRAMMING
    else:
        working = access.state
    LockAccess.objects.filter(pk=pk, claim_token=token).update(state=working)
    try:
        # Every code write on the lock keeps under Seam's per-lock limits, whichever
        # worker makes it.
        gateway = pacing.PacedGateway(gateways.for_device(access.device), access.device_id)
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
    _record_success(pk, token, outcome)


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
        Device.objects.filter(pk=access.device_id).update(backoff_until=until)
        row = LockAccess.objects.select_for_update().get(pk=access.pk)
        if row.claim_token != token:
            return
        row.state = access.state  # back to what it was before the worker took it
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
        row.state = access.state  # back to what it was before the worker took it
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
    reservation = access.reservation
    code = ReservationCode.objects.filter(reservation=reservation).first()
    own_code = bool(access.code) and code is not None and access.code == code.value
    if own_code and not _code_is_kept(reservation, code, now):
        with transaction.atomic():
            row = LockAccess.objects.select_for_update().get(pk=access.pk)
            if row.claim_token != token:
                return
            row.claimed_until, row.claim_token = None, ""
            row.save(update_fields=["claimed_until", "claim_token", "updated_at"])
            access_log(
                row,
                [(Log.DUPLICATE, "", "The lock already held it: a new code for every lock.")],
                source=LockAccessLog.Source.WORKER,
                at=now,
            )
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
        ids = {
            c.provider_id
            for c in gateway.list_device_codes(device_id=device.provider_device_id)
            if c.name.startswith(prefix)
            or (c.provider_id == access.provider_id and not _OWN_NAME.match(c.name))
        }
        logs = []
        for provider_id in ids:
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
        reason = access.reason or Reason.WINDOW_ENDED
        final = State.REVOKED if reason in REVOKING_REASONS else State.REMOVED
        return _Outcome(state=final, removed=True, logs=logs)
    reason = access.reason or Reason.WINDOW_ENDED
    final = State.REVOKED if reason in REVOKING_REASONS else State.REMOVED
    return _Outcome(state=final, removed=True)


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
        found = gateway.find_access_codes(
            device_id=device.provider_device_id, name_prefix=_name_prefix(access)
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
            created = gateway.create_access_code(
                device_id=device.provider_device_id,
                code=code,
                name=_access_name(access),
                starts_at=start,
                ends_at=access.ends_at,
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
        gateway.update_access_code(
            provider_id=access.provider_id,
            code=code,
            name=_access_name(access),
            starts_at=new_start,
            ends_at=access.ends_at,
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


def access_log(
    access: LockAccess, entries: list[tuple[str, str, str]], *, source: str, at, event_id=""
) -> None:
    """Write what happened to one lock's code on its history (see LockAccessLog)."""
    if entries:
        LockAccessLog.objects.bulk_create(
            LockAccessLog(
                organization_id=access.organization_id,
                access_id=access.pk,
                at=at,
                kind=kind,
                source=source,
                provider_id=provider_id or access.provider_id,
                provider_event_id=event_id[:100],
                detail=detail[:300],
            )
            for kind, provider_id, detail in entries
        )


def _record_success(pk: int, token: str, outcome: _Outcome) -> None:
    now = timezone.now()
    with transaction.atomic():
        # Re-read the plan under a row lock: a re-plan may have changed it meanwhile.
        access = LockAccess.objects.select_for_update().get(pk=pk)
        if access.claim_token != token:
            # Our lease ran out and another worker took the row: keep what only we know
            # (the provider's ids), leave state and schedule to the current owner.
            if outcome.provider_id and not access.provider_id:
                access.provider_id = outcome.provider_id
            if outcome.provider_user_id and not access.provider_user_id:
                access.provider_user_id = outcome.provider_user_id
            access.save(update_fields=["provider_id", "provider_user_id", "updated_at"])
            return
        if outcome.provider_id is not None:
            access.provider_id = outcome.provider_id
        if outcome.provider_user_id is not None:
            access.provider_user_id = outcome.provider_user_id
        if outcome.provider_code is not None:
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
        access_log(access, outcome.logs, source=LockAccessLog.Source.WORKER, at=now)
        device = access.device
        if device.max_active_codes is not None and (outcome.requested or outcome.removed):
            _slots_alert(device, used=slots_in_use(device), capacity=device.max_active_codes)
        access.state = outcome.state
        access.attempts = 0
        access.last_error = ""
        access.claimed_until = None
        access.claim_token = ""
        if outcome.recheck:
            access.due_at = now + CONFIRM_REMOVAL_AFTER
        elif outcome.removed and access.wanted and now < access.ends_at:
            # The lock came back to the stay while its code was being removed.
            access.state = State.PLANNED
            access.due_at = _next_due(access, now)
        else:
            access.due_at = _next_due(access, now)
        access.save()


def _record_failure(pk: int, token: str, message: str, *, retryable: bool) -> None:
    now = timezone.now()
    with transaction.atomic():
        access = LockAccess.objects.select_for_update().get(pk=pk)
        if access.claim_token != token:
            return  # another worker owns the row now
        if access.state != State.FAILED:
            signals.announce(
                signals.LOCK_FAILED,
                reservation_id=access.reservation_id,
                lock_access_id=access.pk,
                at=now,
            )
        access.attempts += 1
        access.state = State.FAILED
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
