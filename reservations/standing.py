"""Standing crew access and offboarding in one act.

A standing access (`StandingAccess`) gives a crew member one code of their own on chosen
doors (the staff-access doors of a listing, and any door a manager picks), from a start
until an end or open-ended. Its lock accesses are held by the standing access (the third
holder beside a stay and a turnover), named `KC<standing>-<device> <crew member>`, and go
through the same machinery as a guest's code: programmed their lead time ahead (an
open-ended code at its start, without a window: Seam's "ongoing"), confirmed by the lock,
read back and re-created if deleted at the provider, removed and confirmed gone, counted
against the lock's slots.

Working hours (`StandingHours`, per property, on its wall clock) are not sent to the
lock: an unlock outside them raises an alert (`unlock_hours_check`, called by the events
reader); an unlock exactly at the boundary is inside.

Offboarding (`crew_offboard`): the person goes inactive, every standing access of theirs
ends, their live turnovers go to the listing's default crew member (when that is someone
else, still active) or to nobody, with a new code, and every door's code of theirs is
recorded on a `CodeClearance`, whose report shows when each was confirmed gone. Ending one
standing access (`standing_end`) makes the same report for its doors. The removals are
due steps like any other: the provisioning worker takes them lock by lock, each lock
under its own lease and retried with backoff until the provider no longer lists the code.
"""

from __future__ import annotations

import datetime
import logging
import zoneinfo
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from locks.models import Device, LockAssignment
from properties import services as property_services
from properties.models import DEFAULT_CODE_LEAD_MINUTES, CrewMember

from . import signals
from .alerts import alert_open
from .codes import CodeRefused, check_code, generate_code
from .models import (
    OPEN_END,
    ClearedCode,
    CodeClearance,
    DeviceAlert,
    LockAccess,
    LockEvent,
    StandingAccess,
    StandingHours,
    Turnover,
)
from .planning import Plan, _rules, _write_plans, enqueue_standing_processing
from .selectors import taken_codes
from .turnovers import LIVE as TURNOVER_LIVE
from .turnovers import staff_locks, turnover_replan

logger = logging.getLogger(__name__)

Reason = LockAccess.Reason
State = LockAccess.State
DEFAULT_LEAD = datetime.timedelta(minutes=DEFAULT_CODE_LEAD_MINUTES)


# ------------------------------------------------------------------------- planning


def standing_doors(standing: StandingAccess) -> list[tuple[LockAssignment | None, Device]]:
    """Where the standing code goes: the listing's staff-access doors, then the doors a
    manager picked (of the organization, not removed, that can take codes). A picked door
    keeps the label of a staff-access assignment when it has one."""
    doors: dict[int, tuple[LockAssignment | None, Device]] = {}
    if standing.listing_id is not None:
        for assignment in staff_locks(standing.listing):
            doors[assignment.device_id] = (assignment, assignment.device)
    picked = (
        standing.doors.filter(organization_id=standing.organization_id, removed_at__isnull=True)
        .select_related("connection")
        .order_by("pk")
    )
    for device in picked:
        if device.pk in doors or device.codes_unsupported:
            continue
        assignment = (
            LockAssignment.objects.filter(device=device, staff_access=True).order_by("pk").first()
        )
        doors[device.pk] = (assignment, device)
    return list(doors.values())


def _lead_time(standing: StandingAccess) -> datetime.timedelta:
    return standing.listing.lead_time if standing.listing_id else DEFAULT_LEAD


def _program_at(standing: StandingAccess) -> datetime.datetime:
    """A time-bound code goes on the lock its lead time ahead (the lock enforces the
    window); an open-ended one is sent without a window, so not before its start."""
    if standing.open_ended:
        return standing.starts_at
    return standing.starts_at - _lead_time(standing)


def _ensure_code(
    standing: StandingAccess, doors: list[tuple], now, *, force_new: bool = False
) -> str:
    """The standing access's one code for all its doors: kept while it fits its locks
    (the person knows it), a new one when it does not or when forced."""
    assignments = [_RulesOf(device) for _, device in doors]
    rules = _rules(assignments)
    starts, ends = standing.window
    taken = taken_codes(
        device_ids=[device.pk for _, device in doors],
        start=_program_at(standing),
        end=ends,
        exclude_standing_id=standing.pk,
    )
    existing = standing.code
    if existing and not force_new:
        try:
            check_code(existing, rules=rules, taken=taken)
            return existing
        except CodeRefused:
            logger.info("Standing access %s: its code no longer fits its locks", standing.pk)
    if existing:
        taken.add(existing)
    code = generate_code(rules=rules, taken=taken, preferred_length=6)
    standing.code = code
    StandingAccess.objects.filter(pk=standing.pk).update(
        code_ciphertext=standing.code_ciphertext,
        code_digest=standing.code_digest,
        updated_at=now,
    )
    return code


@dataclass(frozen=True)
class _RulesOf:
    """A door as planning's `_rules` reads it (it reads `assignment.device`)."""

    device: Device


def _leave_reason(standing: StandingAccess) -> str:
    if not standing.crew_member.active:
        return Reason.OFFBOARDED
    if standing.ended_at is not None or (
        standing.ends_at is not None and standing.ends_at <= timezone.now()
    ):
        return Reason.STANDING_ENDED
    return Reason.UNASSIGNED  # a door taken off the standing access


@transaction.atomic
def standing_replan(*, standing: StandingAccess, now=None, force_new_code: bool = False) -> None:
    """Bring every door's plan in line with the standing access (as turnover_replan does
    for a turnover); enqueues processing when the transaction commits."""
    now = now or timezone.now()
    standing = (
        StandingAccess.objects.select_for_update(of=("self",))
        .select_related("listing__property", "crew_member")
        .get(pk=standing.pk)
    )
    accesses = {
        a.device_id: a
        for a in standing.lock_accesses.select_for_update(of=("self",)).select_related(
            "assignment", "device"
        )
    }
    wanted: dict[int, tuple] = {}
    failure = ""
    starts, ends = standing.window
    if standing.is_live and ends > now:
        doors = standing_doors(standing)
        try:
            code = _ensure_code(standing, doors, now, force_new=force_new_code)
        except CodeRefused as refusal:
            code, failure = "", str(refusal)
        plan = Plan(code=code, starts_at=starts, ends_at=ends, program_at=_program_at(standing))
        wanted = {device.pk: (assignment, plan) for assignment, device in doors}
    _write_plans(
        holder={"standing": standing},
        organization_id=standing.organization_id,
        accesses=accesses,
        wanted=wanted,
        failure=failure,
        leave_reason=lambda access: _leave_reason(standing),
        now=now,
    )
    standing_id = standing.pk
    transaction.on_commit(lambda: enqueue_standing_processing(standing_id))
    # The apps above decide what the person is told: the first notice, a change note (its
    # doors, code, dates or working hours), or nothing more (ended, offboarded).
    signals.announce_standing(standing_id=standing_id, at=now)


def standing_live_doors(standing: StandingAccess) -> list[LockAccess]:
    """The doors the standing code is on or goes on (what the crew member is told), with
    their devices and assignments selected."""
    return list(
        standing.lock_accesses.filter(wanted=True)
        .exclude(state__in=LockAccess.FINAL_STATES)
        .select_related("device", "assignment__listing__property")
        .order_by("pk")
    )


# What a manager or the API changes on a standing access (its code is the planner's).
EDITABLE_FIELDS = [
    "organization",
    "crew_member",
    "listing",
    "starts_at",
    "ends_at",
    "note",
    "updated_at",
]

# An open-ended code is planned up to OPEN_END: a start at or after it has no window.
START_TOO_LATE = f"Pick a start before {OPEN_END:%Y-%m-%d}."


def standing_save(*, standing: StandingAccess, doors=None, hours=None, now=None) -> StandingAccess:
    """Create or change a standing access (the API, tests) and plan its code. `doors`:
    the picked doors (devices), None to keep them; `hours`: dicts of `property`, `opens`,
    `closes` replacing its working hours, None to keep them."""
    standing.organization_id = standing.crew_member.organization_id
    with transaction.atomic():
        if standing.pk is None:
            standing.save()
        else:
            # Never the code from this (maybe stale) instance: the planner owns it.
            standing.save(update_fields=EDITABLE_FIELDS)
        if doors is not None:
            standing.doors.set(doors)
        if hours is not None:
            standing.hours.all().delete()
            StandingHours.objects.bulk_create(
                StandingHours(standing=standing, **rule) for rule in hours
            )
        standing_replan(standing=standing, now=now)
    return standing


# ---------------------------------------------------------------- ending, offboarding


def _masked(code: str) -> str:
    """A code as a report shows it: its length and last two digits."""
    if not code:
        return "—"
    return "•" * max(len(code) - 2, 0) + code[-2:]


def _record_codes(clearance: CodeClearance, accesses, holder: str) -> None:
    for access in accesses:
        code = access.provider_code or access.code
        ClearedCode.objects.get_or_create(
            clearance=clearance,
            access=access,
            defaults={
                "device_id": access.device_id,
                "masked": _masked(code),
                "code_digest": _recorded_digest(access),
                "holder": holder,
                "never_on_lock": not (access.provider_id or access.provider_user_id),
            },
        )


def _codes_in_play(**holder):
    """A holder's lock accesses whose code may be on a lock (or on its way there)."""
    return (
        LockAccess.objects.filter(**holder)
        .exclude(state__in=LockAccess.FINAL_STATES, provider_id="")
        .select_related("device")
        .order_by("device__name", "pk")
    )


def standing_end(*, standing: StandingAccess, by: str, now=None) -> CodeClearance:
    """End a standing access now: its code leaves every door, each removal confirmed at
    the provider; returns the clearance whose report shows each door."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = StandingAccess.objects.select_for_update().get(pk=standing.pk)
        clearance = CodeClearance.objects.create(
            organization_id=locked.organization_id,
            crew_member_id=locked.crew_member_id,
            standing=locked,
            at=now,
            by=by[:200],
        )
        _record_codes(clearance, _codes_in_play(standing=locked), "standing")
        if locked.ended_at is None:
            StandingAccess.objects.filter(pk=locked.pk).update(
                ended_at=now, ended_by=by[:200], updated_at=now
            )
        standing_replan(standing=locked, now=now)
    logger.info("Standing access %s ended by %s", standing.pk, by)
    return clearance


def _their_turnovers(member: CrewMember, now):
    """The person's turnovers still to come or with a code on a door."""
    return (
        Turnover.objects.filter(assignee=member)
        .filter(
            Q(state__in=TURNOVER_LIVE, ends_at__gt=now)
            | Q(lock_accesses__state__in=LockAccess.LIVE_STATES)
        )
        .distinct()
        .order_by("starts_at", "pk")
    )


def _recorded_digest(access: LockAccess) -> str:
    return access.provider_code_digest or access.code_digest


def offboarded_report(*, crew_member: CrewMember, now=None) -> CodeClearance | None:
    """The person's latest offboarding report when they are already offboarded: inactive,
    with every code of theirs that may still be on a door (its removal pending) recorded
    on one of their reports. None when there is something new to clear (say, they were
    re-activated and given codes, then deactivated) or no report yet."""
    if crew_member.active:
        return None
    now = now or timezone.now()
    latest = (
        CodeClearance.objects.filter(crew_member=crew_member, standing__isnull=True)
        .order_by("-at", "-pk")
        .first()
    )
    if latest is None:
        return None
    recorded = set(
        ClearedCode.objects.filter(clearance__crew_member=crew_member).values_list(
            "access_id", "code_digest"
        )
    )
    in_play = [
        *_codes_in_play(standing__crew_member=crew_member),
        *_codes_in_play(turnover__in=_their_turnovers(crew_member, now)),
    ]
    if any((access.pk, _recorded_digest(access)) not in recorded for access in in_play):
        return None
    return latest


def crew_offboard(*, crew_member: CrewMember, by: str, now=None) -> CodeClearance:
    """The person leaves, in one act: inactive, every code of theirs (standing and
    turnover) off every door, confirmed gone at the provider; their live turnovers go to
    the listing's default crew member when that is someone else still active, otherwise
    to nobody, each with a new code (the leaving person knew the old one). Returns the
    clearance whose report shows each door and when its code was cleared."""
    now = now or timezone.now()
    with transaction.atomic():
        member = CrewMember.objects.select_for_update().get(pk=crew_member.pk)
        # Offboarding twice (a second click, a retried API call) makes no new, empty
        # report: the person's last one is the answer, while it covers every code of theirs.
        done = offboarded_report(crew_member=member, now=now)
        if done is not None:
            return done
        property_services.crew_member_deactivate(crew_member=member)
        member.active = False
        clearance = CodeClearance.objects.create(
            organization_id=member.organization_id, crew_member=member, at=now, by=by[:200]
        )
        standings = list(
            StandingAccess.objects.filter(crew_member=member).select_for_update().order_by("pk")
        )
        for standing in standings:
            _record_codes(clearance, _codes_in_play(standing=standing), "standing")
            if standing.ended_at is None:
                StandingAccess.objects.filter(pk=standing.pk).update(
                    ended_at=now, ended_by=by[:200], updated_at=now
                )
            standing_replan(standing=standing, now=now)
        notes = []
        for turnover in _their_turnovers(member, now).select_related(
            "listing__default_crew_member"
        ):
            _record_codes(clearance, _codes_in_play(turnover=turnover), "turnover")
            if turnover.state not in TURNOVER_LIVE or turnover.window[1] <= now:
                continue  # over: its code leaves at the end of its window, recorded above
            default = turnover.listing.default_crew_member
            heir = default if default and default.active and default.pk != member.pk else None
            Turnover.objects.filter(pk=turnover.pk).update(
                assignee=heir, notified_at=None, updated_at=now
            )
            turnover.assignee = heir
            turnover_replan(turnover=turnover, now=now, force_new_code=True)
            notes.append(f"{turnover}: {'to ' + str(heir) if heir else 'unassigned'}")
        if notes:
            clearance.turnovers_note = "\n".join(notes)
            clearance.save(update_fields=["turnovers_note"])
    logger.info("Crew member %s offboarded by %s", crew_member.pk, by)
    return clearance


# ------------------------------------------------------------------------ the report


UTC = zoneinfo.ZoneInfo("UTC")


@dataclass(frozen=True)
class ClearedRow:
    door: str
    masked: str
    holder: str
    status: str  # "cleared", "pending", "failing"
    cleared_at: datetime.datetime | None
    attempts: int
    error: str
    # The door's clock: its listing's property's zone; UTC for a door at no listing.
    zone: zoneinfo.ZoneInfo = UTC


def _door_zone(access: LockAccess) -> zoneinfo.ZoneInfo:
    assignment = access.assignment
    if assignment is None:
        assignment = (
            LockAssignment.objects.filter(device_id=access.device_id)
            .select_related("listing__property")
            .order_by("role", "pk")
            .first()
        )
    return assignment.listing.property.zone if assignment is not None else UTC


def clearance_rows(clearance: CodeClearance) -> list[ClearedRow]:
    """Each door's code of the clearance, where its removal is, and the door's zone."""
    rows = []
    codes = clearance.codes.select_related(
        "access__assignment__listing__property", "device"
    ).order_by("device__name", "pk")
    for item in codes:
        access = item.access
        status, at = _cleared(item, access, clearance.at)
        rows.append(
            ClearedRow(
                door=access.door_name,
                masked=item.masked,
                holder=item.holder,
                status=status,
                cleared_at=at,
                attempts=access.attempts,
                error=access.last_error if status == "failing" else "",
                zone=_door_zone(access),
            )
        )
    return rows


def clearance_zones(clearance: CodeClearance, rows: list[ClearedRow]) -> list[zoneinfo.ZoneInfo]:
    """The clocks a clearance's own instant is shown on: its doors' zones (first seen
    first), else its standing access's listing's, else UTC."""
    zones = list(dict.fromkeys(row.zone for row in rows))
    if zones:
        return zones
    standing = clearance.standing
    if standing is not None and standing.listing_id is not None:
        return [standing.listing.property.zone]
    return [UTC]


def _cleared(item: ClearedCode, access: LockAccess, since) -> tuple[str, datetime.datetime | None]:
    if access.state in LockAccess.FINAL_STATES:
        return "cleared", access.removed_at
    # A turnover given a new code keeps its doors: the old code is gone once the
    # provider holds the new digits in its place.
    replaced = (
        item.holder == "turnover"
        and access.wanted
        and access.code_digest != item.code_digest
        and (
            (
                access.state in LockAccess.AT_PROVIDER_STATES
                and access.provider_code_digest != item.code_digest
            )
            or (not access.provider_id and item.never_on_lock)
        )
    )
    if replaced:
        when = access.programmed_at if access.provider_id else since
        return "cleared", max(when or since, since)
    if access.state == State.FAILED:
        return "failing", None
    return "pending", None


def clearance_done(clearance: CodeClearance) -> bool:
    return all(row.status == "cleared" for row in clearance_rows(clearance))


# -------------------------------------------------------------------- working hours


def _standing_valid(lock_event: LockEvent, device: Device) -> bool:
    """A standing code used inside its own dates on this lock."""
    at = lock_event.occurred_at
    return LockAccess.objects.filter(
        standing_id=lock_event.standing_id, device=device, starts_at__lte=at, ends_at__gt=at
    ).exists()


def unlock_hours_check(lock_event: LockEvent, device: Device) -> DeviceAlert | None:
    """An unlock with a standing code outside its working hours at the door's property
    raises an alert (one per unlock); inside them, or exactly at a boundary, nothing.
    A property without working hours set accepts any hour."""
    if lock_event.standing_id is None:
        return None
    property_ids = set(
        LockAssignment.objects.filter(device=device).values_list("listing__property_id", flat=True)
    )
    hours = list(
        StandingHours.objects.filter(
            standing_id=lock_event.standing_id, property_id__in=property_ids
        ).select_related("property")
    )
    if not hours:
        return None
    at = lock_event.occurred_at
    for rule in hours:
        if rule.contains(at.astimezone(rule.property.zone).time().replace(microsecond=0)):
            return None
    rule = hours[0]
    local = at.astimezone(rule.property.zone)
    return alert_open(
        device=device,
        kind=DeviceAlert.Kind.OUTSIDE_HOURS,
        at=at,
        event=lock_event,
        access_code_id=lock_event.provider_event_id,
        message=(
            f"{lock_event.person_name} opened the door at {local:%H:%M} ({rule.property}), "
            f"outside their working hours {rule.opens:%H:%M}–{rule.closes:%H:%M}."
        ),
    )


def standing_is_valid(lock_event: LockEvent, device: Device) -> bool:
    """For the vacant-unlock check: a standing code inside its dates is expected."""
    return lock_event.standing_id is not None and _standing_valid(lock_event, device)


__all__ = [
    "OPEN_END",
    "START_TOO_LATE",
    "clearance_rows",
    "clearance_zones",
    "crew_offboard",
    "offboarded_report",
    "standing_end",
    "standing_live_doors",
    "standing_replan",
    "standing_save",
    "unlock_hours_check",
]
