"""Stays: a reservation's status, its saving, its code and its per-lock overrides.

The one writer every surface (admin, API, import, tasks) goes through. Each change
re-plans the stay's locks (reservations.planning); the provisioning worker
(reservations.provisioning) carries the plan out. Their public names are importable
from here too, as they were when all three lived in this module.
"""

from __future__ import annotations

import datetime
import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.text import counted
from core.timezones import RANGE_MESSAGE, format_instant, in_year_range
from locks.models import LockAssignment
from properties.models import MAX_CODE_LEAD_MINUTES, Listing

from . import access_states, verification
from .access_states import access_log
from .alerts import double_booking_alerts_refresh
from .codes import CodeRefused, LockRules, check_code
from .doors import send_problem
from .models import AccessOverride, LockAccess, Reservation, ReservationCode
from .planning import (
    FINAL_STATES,
    PLAN_FIELDS,
    REPLAN_CHUNK,
    Plan,
    _ensure_code,
    _guest_locks,
    _override_limits,
    enqueue_holder,
    enqueue_processing,
    listings_replan,
    listings_replan_in_chunks,
    override_limits,
    reservation_replan,
    stays_to_replan,
)
from .provisioning import (
    CONFIRM_REMOVAL_AFTER,
    DUPLICATE_CODES,
    LEASE,
    STEP_ORDER,
    due_lock_ids,
    due_reservation_ids,
    process_due,
    provisioning_concurrency,
    retry_delay,
    slots_in_use,
)
from .selectors import taken_codes

logger = logging.getLogger(__name__)

__all__ = [
    "CONFIRM_REMOVAL_AFTER",
    "DUPLICATE_CODES",
    "FINAL_STATES",
    "LEASE",
    "PLAN_FIELDS",
    "REPLAN_CHUNK",
    "STATUS_TRANSITIONS",
    "STEP_ORDER",
    "Plan",
    "access_log",
    "access_retry_now",
    "code_mark_sent",
    "code_rotate",
    "due_lock_ids",
    "due_reservation_ids",
    "enqueue_processing",
    "listings_replan",
    "listings_replan_in_chunks",
    "override_delete",
    "override_limits",
    "override_problems",
    "override_set",
    "process_due",
    "provisioning_concurrency",
    "reservation_cancel",
    "reservation_confirm",
    "reservation_create",
    "reservation_end_stay",
    "reservation_replan",
    "reservation_save",
    "reservation_update",
    "retry_delay",
    "slots_in_use",
    "status_change_problem",
    "stays_to_replan",
]


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
    # Confirmed at a listing that requires a verified guest: its code is held until then.
    held = verification.hold_on_confirm(reservation=reservation, previous_status=previous)
    reservation.save()
    if held:
        verification.held_recorded(reservation=reservation, now=now)
    reservation_replan(reservation=reservation, now=now)
    double_booking_alerts_refresh(reservation=reservation, now=now, new=previous is None)
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
    double_booking_alerts_refresh(reservation=reservation, now=now)
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
    access_states.retry_now(access.pk, now=now)
    holder = access.holder_key
    transaction.on_commit(lambda: enqueue_holder(holder))


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
        return counted(minutes, "minute")
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
