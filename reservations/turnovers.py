"""Turnovers: the gap between one stay's check-out and the next check-in, a task for a
crew member with a code of its own on the listing's staff-access doors.

`turnovers_follow_stay` runs inside every re-plan of a stay (reservations.planning): the
turnovers of its listing (and of any listing it left) are brought in line with the
confirmed stays (`listing_turnovers_sync`), and a turnover whose time, next stay or
state changed re-plans its code (`turnover_replan`). The code is then carried out by the
same worker, read-back and repair as a guest's (its lock accesses are held by the
turnover instead of a stay, named `KT<turnover>-<device>`).

A turnover lasts from the check-out (or the instant staff ended the stay) to the next
confirmed check-in, when that is within LONGEST_GAP; otherwise the listing's turnover
duration, counted on the property's wall clock (a duration across a daylight-saving
change keeps its local length). A next check-in at or before the check-out leaves no
time to clean: the turnover is flagged impossible and gets no code.

Marking it done (`turnover_done`: the task page, the admin or the API) takes its code off
the doors and, where the listing allows early check-in, starts the next guest's code at
once (never before the turnover's own start, never before the listing's limit, and only
for a guest who was already sent their code and times); the guest is told.
"""

from __future__ import annotations

import datetime
import logging

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, get_random_string

from core.access import scope_queryset
from core.timezones import format_instant
from locks.models import LockAssignment
from properties.models import Listing

from . import signals
from .codes import CodeRefused, check_code, generate_code
from .models import LockAccess, Reservation, ReservationCode, Turnover
from .planning import (
    Plan,
    _rules,
    _write_plans,
    enqueue_turnover_processing,
    reservation_replan,
)
from .sections import Section, first_rows
from .selectors import taken_codes

logger = logging.getLogger(__name__)

Reason = LockAccess.Reason
TState = Turnover.State
LIVE = (TState.PLANNED, TState.STARTED)

# A next check-in further than this after the check-out is not this turnover's end: the
# turnover lasts the listing's set duration (a code left for days is a door left open).
LONGEST_GAP = datetime.timedelta(days=1)
# Stays that ended before this long ago keep the turnovers they have; none is made.
HORIZON = datetime.timedelta(days=1)


def staff_locks(listing: Listing) -> list[LockAssignment]:
    """The listing's doors with staff access that can take codes: where crew codes go."""
    assignments = (
        listing.assignments.filter(staff_access=True, device__removed_at__isnull=True)
        .select_related("device__connection")
        .order_by("pk")
    )
    return [a for a in assignments if not a.device.codes_unsupported]


def turnover_span(
    listing: Listing, after: Reservation, next_stay: Reservation | None
) -> tuple[datetime.datetime, datetime.datetime, bool]:
    """(start, end, impossible) of the turnover after `after`, `next_stay` the next
    confirmed stay or None."""
    starts = after.check_out
    if after.ended_at is not None:
        starts = min(starts, after.ended_at)
    if next_stay is not None and next_stay.check_in <= starts:
        return starts, starts, True
    if next_stay is not None and next_stay.check_in - starts <= LONGEST_GAP:
        return starts, next_stay.check_in, False
    # Wall-clock arithmetic in the property's zone: 4 hours after 01:00 on the night the
    # clocks change is 05:00 there.
    zone = listing.property.zone
    local_end = starts.astimezone(zone) + listing.turnover_duration
    ends = local_end.astimezone(datetime.UTC)
    if next_stay is not None:
        ends = min(ends, next_stay.check_in)
    return starts, ends, False


def _next_of(stay: Reservation, confirmed: list[Reservation]) -> Reservation | None:
    for other in confirmed:  # sorted by check-in
        if other.pk == stay.pk:
            continue
        if (other.check_in, other.pk) > (stay.check_in, stay.pk):
            return other
    return None


def listing_turnovers_sync(*, listing_id: int, now=None) -> list[int]:
    """Bring a listing's turnovers in line with its stays; re-plan those that changed.
    Returns the ids of the turnovers re-planned."""
    now = now or timezone.now()
    listing = Listing.objects.select_related("property", "default_crew_member").get(pk=listing_id)
    horizon = now - HORIZON
    stays = list(
        Reservation.objects.filter(
            listing_id=listing_id,
            status__in=[Reservation.Status.CONFIRMED, Reservation.Status.CHECKED_OUT],
            check_out__gt=horizon,
        ).order_by("check_in", "pk")
    )
    confirmed = [s for s in stays if s.status == Reservation.Status.CONFIRMED]
    existing = {
        t.after_stay_id: t
        for t in Turnover.objects.filter(
            Q(listing_id=listing_id, ends_at__gt=horizon) | Q(after_stay__in=stays)
        ).select_for_update()
    }
    changed: list[Turnover] = []
    if listing.turnovers_enabled:
        for stay in stays:
            next_stay = _next_of(stay, confirmed)
            starts, ends, impossible = turnover_span(listing, stay, next_stay)
            turnover = existing.pop(stay.pk, None)
            if turnover is None:
                if ends <= now and not impossible:
                    continue  # over already: nothing to clean any more
                turnover = Turnover(
                    organization_id=listing.organization_id,
                    listing=listing,
                    after_stay=stay,
                    assignee=listing.default_crew_member
                    if listing.default_crew_member and listing.default_crew_member.active
                    else None,
                )
            before = (
                turnover.pk,
                turnover.listing_id,
                turnover.next_stay_id,
                turnover.starts_at,
                turnover.ends_at,
                turnover.impossible,
                turnover.state,
            )
            turnover.listing = listing
            turnover.next_stay = next_stay
            turnover.starts_at, turnover.ends_at = starts, ends
            turnover.impossible = impossible
            reopen = turnover.state == TState.CANCELLED  # the stay is back
            after = (
                turnover.pk,
                listing.pk,
                turnover.next_stay_id,
                starts,
                ends,
                impossible,
                TState.PLANNED if reopen else turnover.state,
            )
            if before != after:
                if turnover.pk is None:
                    turnover.save()
                else:
                    turnover.save(update_fields=SPAN_FIELDS)
                if reopen:
                    _set_state(turnover, TState.PLANNED)
                changed.append(turnover)
    for turnover in existing.values():  # no stay to follow here any more
        moved_to = turnover.after_stay.listing
        if moved_to.pk != listing_id and moved_to.turnovers_enabled:
            continue  # moved with its stay: the other listing's sync takes it
        if turnover.state in LIVE:
            _set_state(turnover, TState.CANCELLED)
            changed.append(turnover)
    for turnover in changed:
        turnover_replan(turnover=turnover, now=now)
    return [t.pk for t in changed]


# What a sync writes on a turnover it keeps.
SPAN_FIELDS = ["listing", "next_stay", "starts_at", "ends_at", "impossible", "updated_at"]


def _set_state(turnover: Turnover, to: str, **fields) -> None:
    """Write a turnover's own state (a task's: planned, started, done, cancelled), with
    the fields that go with it. A lock access's state is reservations.access_states'."""
    Turnover.objects.filter(pk=turnover.pk).update(state=to, updated_at=timezone.now(), **fields)
    turnover.refresh_from_db(fields=["state", *fields])


def turnover_notified(*, turnover_id: int, at) -> None:
    """The assignee was emailed their doors, code and window (guests.crew): from now on
    the turnover keeps its code, and a change tells them again."""
    Turnover.objects.filter(pk=turnover_id).update(notified_at=at, updated_at=at)


def turnovers_follow_stay(*, reservation: Reservation, now) -> None:
    """A stay was re-planned: the turnovers of its listing, and of a listing it left,
    follow (inside the re-plan's transaction)."""
    listing_ids = set(
        Turnover.objects.filter(
            Q(after_stay_id=reservation.pk) | Q(next_stay_id=reservation.pk)
        ).values_list("listing_id", flat=True)
    )
    if reservation.listing.turnovers_enabled:
        listing_ids.add(reservation.listing_id)
    for listing_id in sorted(listing_ids):
        listing_turnovers_sync(listing_id=listing_id, now=now)


def listings_turnovers_replan(*, listing_ids, now=None) -> int:
    """The listings' doors or rules changed: their turnovers follow (their times, and
    their codes on the doors that now have staff access)."""
    now = now or timezone.now()
    count = 0
    concerned = (
        Listing.objects.filter(pk__in=set(listing_ids))
        .filter(Q(turnovers_enabled=True) | Q(turnovers__isnull=False))
        .values_list("pk", flat=True)
        .distinct()
    )
    for listing_id in sorted(concerned):
        listing_turnovers_sync(listing_id=listing_id, now=now)
        for turnover in Turnover.objects.filter(
            listing_id=listing_id, ends_at__gt=now - HORIZON
        ).order_by("pk"):
            turnover_replan(turnover=turnover, now=now)
            count += 1
    return count


def turnover_code_state(turnover: Turnover, now=None) -> str:
    """Where the crew code is, in one word, from each door's state (prefetched)."""
    if turnover.impossible:
        return "no code (no time to clean)"
    accesses = [a for a in turnover.lock_accesses.all() if a.wanted]
    if not accesses:
        return "none"
    states = {a.current_state(now) for a in accesses}
    if len(states) == 1:
        return next(iter(states))
    if LockAccess.State.FAILED in states:
        return LockAccess.State.FAILED
    return "mixed: " + ", ".join(sorted(states))


def _leave_reason(turnover: Turnover, access: LockAccess) -> str:
    if turnover.state == TState.DONE:
        return Reason.TURNOVER_DONE
    if not turnover.is_live:
        return Reason.CANCELLED
    if access.assignment_id is None:
        return Reason.UNASSIGNED
    if access.assignment.listing_id != turnover.listing_id:
        return Reason.MOVED
    if not access.assignment.staff_access:
        return Reason.NO_STAFF_ACCESS
    return Reason.UNASSIGNED


def _ensure_code(
    turnover: Turnover, doors: list[LockAssignment], now, *, force_new: bool = False
) -> str:
    """The turnover's one code for all its doors: kept once the crew was told or the
    turnover began; otherwise a new one when it no longer fits its locks."""
    starts, ends = turnover.window
    rules = _rules(doors)
    taken = taken_codes(
        device_ids=[a.device_id for a in doors],
        start=starts - turnover.listing.lead_time,
        end=ends,
        exclude_turnover_id=turnover.pk,
    )
    existing = turnover.code
    if existing and not force_new:
        if turnover.notified_at is not None or now >= starts:
            return existing
        try:
            check_code(existing, rules=rules, taken=taken)
            return existing
        except CodeRefused:
            logger.info("Turnover %s: its code no longer fits its locks", turnover.pk)
    if existing:
        taken.add(existing)  # a new code never lands on the old one
    code = generate_code(rules=rules, taken=taken, preferred_length=turnover.listing.code_length)
    turnover.code = code
    Turnover.objects.filter(pk=turnover.pk).update(
        code_ciphertext=turnover.code_ciphertext,
        code_digest=turnover.code_digest,
        updated_at=now,
    )
    return code


@transaction.atomic
def turnover_replan(*, turnover: Turnover, now=None, force_new_code: bool = False) -> None:
    """Bring every staff door's plan in line with the turnover (as reservation_replan
    does for a stay); enqueues processing when the transaction commits."""
    now = now or timezone.now()
    turnover = (
        Turnover.objects.select_for_update(of=("self",))
        .select_related("listing__property", "assignee")
        .get(pk=turnover.pk)
    )
    accesses = {
        a.device_id: a
        for a in turnover.lock_accesses.select_for_update(of=("self",)).select_related(
            "assignment", "device"
        )
    }
    told_before = _told(accesses.values())
    wanted: dict[int, tuple[LockAssignment, Plan]] = {}
    failure = ""
    starts, ends = turnover.window
    if turnover.is_live and (ends > now or accesses):
        doors = staff_locks(turnover.listing)
        try:
            code = _ensure_code(turnover, doors, now, force_new=force_new_code)
        except CodeRefused as refusal:
            code, failure = "", str(refusal)
        plan = Plan(
            code=code,
            starts_at=starts,
            ends_at=ends,
            program_at=starts - turnover.listing.lead_time,
        )
        wanted = {door.device_id: (door, plan) for door in doors}
    _write_plans(
        holder={"turnover": turnover},
        organization_id=turnover.organization_id,
        accesses=accesses,
        wanted=wanted,
        failure=failure,
        leave_reason=lambda access: _leave_reason(turnover, access),
        now=now,
    )
    turnover_id = turnover.pk
    transaction.on_commit(lambda: enqueue_turnover_processing(turnover_id))
    if wanted and not failure:
        told_after = _told(LockAccess.objects.filter(turnover_id=turnover_id))
        if turnover.notified_at is None or told_after != told_before:
            # The assignee is told (again): their doors, code or window are new.
            signals.announce_crew(signals.TURNOVER_PLANNED, turnover_id=turnover_id, at=now)


def _told(accesses) -> set[tuple]:
    """What the assignee is told of each door: its code and window."""
    return {
        (a.device_id, a.code, a.starts_at, a.ends_at)
        for a in accesses
        if a.wanted and a.state not in LockAccess.FINAL_STATES
    }


def turnover_assign(*, turnover: Turnover, assignee, now=None) -> Turnover:
    """Give the turnover to a crew member (of its organization) or to nobody."""
    if assignee is not None and assignee.organization_id != turnover.organization_id:
        raise ValueError("The crew member belongs to another organization.")
    with transaction.atomic():
        Turnover.objects.filter(pk=turnover.pk).update(
            assignee=assignee, notified_at=None, updated_at=now or timezone.now()
        )
        turnover.refresh_from_db()
        turnover_replan(turnover=turnover, now=now)
    return turnover


# ------------------------------------------------------------------ unit ready


def early_start(turnover: Turnover, now) -> datetime.datetime | None:
    """Where the next guest's code may start now that the unit is ready, or None.

    Only where the listing allows early check-in, for a live next stay whose guest was
    already sent their code and times; never before the turnover's own start, nor
    earlier than the listing's limit before check-in; only when it is earlier than the
    code's start already."""
    listing = turnover.listing
    next_stay = turnover.next_stay
    if next_stay is None or not listing.early_check_in_max or not next_stay.is_live:
        return None
    sent = ReservationCode.objects.filter(
        reservation_id=next_stay.pk, sent_at__isnull=False
    ).exists()
    if not sent:
        return None
    limit = next_stay.check_in - listing.early_check_in_max
    start = max(now.replace(second=0, microsecond=0), limit, turnover.starts_at)
    if start >= next_stay.window[0]:
        return None
    return start


def turnover_done(*, turnover: Turnover, by: str, now=None) -> bool:
    """The unit is ready: the turnover is done (its code leaves the doors), and where
    the listing allows, the next guest's code starts early and the guest is told.
    False when it was done (or cancelled) already: marking it twice does nothing more.
    Refused (ValidationError) before the turnover begins, the guests still inside: a tap
    then would take the crew's code off and start the next guest early, unclean."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = (
            Turnover.objects.select_for_update(of=("self",))
            .select_related("listing__property", "next_stay__listing")
            .get(pk=turnover.pk)
        )
        if locked.state not in LIVE:
            return False
        if now < locked.starts_at:
            raise ValidationError(not_begun_message(locked))
        early = early_start(locked, now)
        _set_state(locked, TState.DONE, done_at=now, done_by=by[:200], early_check_in_from=early)
        turnover_replan(turnover=locked, now=now)
        if early is not None:
            stay = locked.next_stay
            Reservation.objects.filter(pk=stay.pk).update(early_access_from=early)
            reservation_replan(reservation=stay, now=now)
            signals.announce_crew(
                signals.READY_EARLY, turnover_id=locked.pk, reservation_id=stay.pk, at=now
            )
    logger.info("Turnover %s done by %s (early check-in: %s)", turnover.pk, by, early)
    turnover.refresh_from_db()
    return True


def not_begun_message(turnover: Turnover) -> str:
    begins = format_instant(turnover.starts_at, turnover.listing.property.zone)
    return f"This turnover begins at {begins}, when the guests leave: mark it done after that."


def turnover_started(*, turnover_id: int, at: datetime.datetime) -> None:
    """The first unlock with the turnover's code: started (the earliest unlock wins)."""
    rows = Turnover.objects.filter(pk=turnover_id)
    rows.filter(state=TState.PLANNED).update(state=TState.STARTED, started_at=at, updated_at=at)
    rows.filter(started_at__gt=at).update(started_at=at)


# ------------------------------------------------------------------- task page link

SALT = "keystay.turnovers.task"


def task_token(turnover: Turnover) -> str:
    """The private task page's token: the turnover and its key, signed with the server's
    secret (a new key revokes every link sent before)."""
    if not turnover.link_key:
        turnover.link_key = get_random_string(32)
        Turnover.objects.filter(pk=turnover.pk, link_key="").update(link_key=turnover.link_key)
        turnover.link_key = Turnover.objects.values_list("link_key", flat=True).get(pk=turnover.pk)
    return signing.dumps([turnover.pk, turnover.link_key], salt=SALT, compress=True)


def turnover_for_token(token: str) -> Turnover | None:
    try:
        turnover_id, key = signing.loads(token, salt=SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(turnover_id, int) or not isinstance(key, str):
        return None
    turnover = (
        Turnover.objects.select_related("listing__property", "assignee", "organization")
        .filter(pk=turnover_id)
        .first()
    )
    if turnover is None or not turnover.link_key:
        return None
    if not constant_time_compare(turnover.link_key, key):
        return None
    return turnover


# ------------------------------------------------------------------------ dashboard


def soon(now) -> Q:
    """Turnovers of today and tomorrow, as the dashboard lists them: not cancelled, their
    window meets the next 48 hours (or the last 12)."""
    return ~Q(state=TState.CANCELLED) & Q(
        starts_at__lt=now + datetime.timedelta(hours=48),
        ends_at__gt=now - datetime.timedelta(hours=12),
    )


def turnovers_soon(*, user, now=None, url: str = "", what: str = "") -> Section:
    """The person's organizations' turnovers of today and tomorrow (`soon`), soonest
    first: the first rows, each with its `crew_code_state`, and how many there are."""
    now = now or timezone.now()
    section = first_rows(
        scope_queryset(Turnover.objects.filter(soon(now)), user)
        .select_related("listing__property", "assignee")
        .prefetch_related("lock_accesses")
        .order_by("starts_at", "pk"),
        url=url,
        what=what,
    )
    for turnover in section.rows:
        turnover.crew_code_state = turnover_code_state(turnover, now)
    return section


def dashboard_section(request) -> str:
    url = reverse("admin:reservations_turnover_changelist") + "?when=soon"
    return render_to_string(
        "reservations/_turnovers.html",
        {"turnovers": turnovers_soon(user=request.user, url=url, what="turnovers")},
        request=request,
    )
