"""Re-planning many stays at once: a listing import, a lock moved between listings.

`stays_replan` brings each stay's locks in line exactly as `planning.reservation_replan`
does, with the same rules (planning's own functions decide every plan, code and state
move), but reads what the stays need once for the whole set (the stays, their lock
accesses, their listings' doors, overrides, codes, the codes taken on those doors) and
writes the rows together (reservations.access_states.plans_save). A few reads and writes
per call, whatever its size: the caller keeps the set small enough for a short
transaction (planning.REPLAN_CHUNK).

What stays one at a time: an override that has to be trimmed (it reads its neighbours),
the stays whose overrides were trimmed (re-planned afterwards), and the turnovers, once
per listing concerned rather than once per stay.
"""

from __future__ import annotations

import datetime
from collections import defaultdict

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.bulk_insert import update_many
from core.crypto import decrypt
from locks.models import LockAssignment, UnmanagedCode
from properties.models import MAX_OVERRIDE_EXTENSION_MINUTES

from . import access_states, planning, signals
from .codes import CodeRefused
from .models import AccessOverride, LockAccess, Reservation, ReservationCode, Turnover
from .planning import (
    Plan,
    State,
    _choose_code,
    _doors_told,
    _held,
    _leave_reason,
    _must_leave_for_hold,
    _override_trim,
    _plan,
    _rules,
    _write_plans,
)
from .prearrival_times import prearrival_schedule_for

# How far another stay's override may reach (planning._trim_neighbours_overrides).
REACH = datetime.timedelta(days=1) + datetime.timedelta(minutes=MAX_OVERRIDE_EXTENSION_MINUTES)


class _TakenCodes:
    """The codes held on a set of doors over a period (selectors.taken_codes for many
    stays at once), kept up to date as each stay's plan is written, so that a stay sees
    the codes of the stays planned before it in the same set. Codes are decrypted when a
    stay asks for its doors' codes, each ciphertext once (`plain`, which the caller may
    share between sets: the same rows are read again by the next set)."""

    def __init__(self, device_ids: set[int], start, end, plain: dict[str, str]):
        self.rows: dict[object, tuple] = {}
        self.by_device: dict[int, set] = defaultdict(set)
        self.unmanaged: dict[int, list] = defaultdict(list)
        self.plain = plain
        if not device_ids:
            return
        rows = LockAccess.objects.filter(
            Q(state__in=LockAccess.LIVE_STATES, wanted=True)
            | Q(state__in=LockAccess.LIVE_STATES, provider_id__gt="")
            | Q(state=State.HELD)
            | Q(
                reason=LockAccess.Reason.VERIFICATION_REVOKED,
                reservation__status=Reservation.Status.CONFIRMED,
            ),
            device_id__in=device_ids,
            program_at__lt=end,
            ends_at__gt=start,
        ).values_list(
            "pk",
            "device_id",
            "program_at",
            "ends_at",
            "reservation_id",
            "code_ciphertext",
            "provider_code_ciphertext",
        )
        for pk, *row in rows:
            self._add(("pk", pk), *row)
        unmanaged = (
            UnmanagedCode.objects.filter(device_id__in=device_ids)
            .exclude(code_ciphertext="")
            .filter(Q(starts_at__isnull=True) | Q(starts_at__lt=end))
            .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=start))
            .only("device_id", "starts_at", "ends_at", "code_ciphertext")
        )
        for code in unmanaged:
            self.unmanaged[code.device_id].append((code.starts_at, code.ends_at, code.code))

    def _add(self, key, device_id, program_at, ends_at, reservation_id, *ciphertexts) -> None:
        self.rows[key] = (device_id, program_at, ends_at, reservation_id, ciphertexts)
        self.by_device[device_id].add(key)

    def follow(self, access: LockAccess, stay: Reservation) -> None:
        """A row of `stay` was just planned: it holds its code from now on, or no more."""
        key = ("pk", access.pk) if access.pk is not None else ("new", id(access))
        old = self.rows.pop(key, None)
        if old is not None:
            self.by_device[old[0]].discard(key)
        live = access.state in LockAccess.LIVE_STATES
        if (
            (live and (access.wanted or access.provider_id))
            or access.state == State.HELD
            or (
                access.reason == LockAccess.Reason.VERIFICATION_REVOKED
                and stay.status == Reservation.Status.CONFIRMED
            )
        ):
            self._add(
                key,
                access.device_id,
                access.program_at,
                access.ends_at,
                access.reservation_id,
                access.code_ciphertext,
                access.provider_code_ciphertext,
            )

    def _decrypt(self, ciphertext: str) -> str:
        try:
            return self.plain[ciphertext]
        except KeyError:
            code = self.plain[ciphertext] = decrypt(ciphertext)
            return code

    def taken(self, device_ids, start, end, *, exclude_reservation_id: int) -> set[str]:
        taken: set[str] = set()
        for device_id in device_ids:
            for key in self.by_device.get(device_id, ()):
                _, program_at, ends_at, reservation_id, ciphertexts = self.rows[key]
                if reservation_id == exclude_reservation_id:
                    continue
                if program_at < end and ends_at > start:
                    taken.update(self._decrypt(c) for c in ciphertexts if c)
            for starts_at, ends_at, code in self.unmanaged.get(device_id, ()):
                if (starts_at is None or starts_at < end) and (ends_at is None or ends_at > start):
                    taken.add(code)
        return taken


@transaction.atomic
def stays_replan(*, reservation_ids, now=None, plain_codes: dict | None = None) -> int:
    """Re-plan these stays as `reservation_replan` would one by one, in the caller's
    transaction; returns how many were re-planned. `plain_codes`: the codes decrypted
    by an earlier set of the same re-plan (ciphertext → code), to decrypt each once."""
    from .turnovers import listing_turnovers_sync  # turnovers imports planning

    now = now or timezone.now()
    ids = sorted(set(reservation_ids))
    if not ids:
        return 0
    # Locked in one statement, in the order the one-by-one planner locks them: the stays
    # alone (one re-plan of a stay at a time), not the listings and properties joined,
    # which a single stay's re-plan beside this one locks with its stay.
    stays = list(
        Reservation.objects.select_for_update(of=("self",))
        .select_related("listing__property")
        .filter(pk__in=ids)
        .order_by("pk")
    )
    accesses: dict[int, dict[int, LockAccess]] = defaultdict(dict)
    for access in (
        LockAccess.objects.select_for_update(of=("self",))
        .select_related("assignment", "device")
        .filter(reservation_id__in=ids)
        .order_by("pk")
    ):
        accesses[access.reservation_id][access.device_id] = access
    live = [stay for stay in stays if stay.is_live]
    doors: dict[int, list[LockAssignment]] = defaultdict(list)
    for assignment in (
        LockAssignment.objects.filter(
            listing_id__in={stay.listing_id for stay in live},
            guest_access=True,
            device__removed_at__isnull=True,
        )
        .select_related("device__connection")
        .order_by("pk")
    ):
        if not assignment.device.codes_unsupported:
            doors[assignment.listing_id].append(assignment)
    overrides, neighbours = _overrides(live, doors)
    codes = {c.reservation_id: c for c in ReservationCode.objects.filter(reservation_id__in=ids)}
    windows = [
        (stay.window[0] - stay.listing.lead_time, stay.window[1])
        for stay in live
        if doors[stay.listing_id]
    ]
    taken_codes = _TakenCodes(
        {a.device_id for stay in live for a in doors[stay.listing_id]},
        min((w[0] for w in windows), default=now),
        max((w[1] for w in windows), default=now),
        {} if plain_codes is None else plain_codes,
    )

    created: list[LockAccess] = []
    changed: list[LockAccess] = []

    def save(access: LockAccess, is_new: bool) -> None:
        if is_new:
            access.device = access.assignment.device  # what the guest is told reads it
            created.append(access)
        else:
            changed.append(access)

    new_codes: list[ReservationCode] = []
    rotated: list[ReservationCode] = []
    rescheduled: list[Reservation] = []
    trimmed: set[int] = set()
    events: dict[str, list[int]] = defaultdict(list)  # told once the transaction commits
    for stay in stays:
        rows = accesses.get(stay.pk, {})
        told_before = _doors_told(rows.values())
        was_held = any(a.state == State.HELD for a in rows.values())
        held = _held(stay)
        wanted: dict[int, tuple[LockAssignment, Plan]] = {}
        failure = ""
        if stay.is_live:
            assignments = doors[stay.listing_id]
            mine = overrides.get(stay.pk, {})
            for override in mine.values():
                _override_trim(override, now)
            trimmed |= _trim_neighbours(stay, assignments, neighbours, now)
            try:
                code = _stay_code(stay, assignments, codes, taken_codes, now)
            except CodeRefused as refusal:
                code, failure = "", str(refusal)
            else:
                if _code_kept(stay, codes, code, now, new_codes, rotated):
                    events[signals.CODE_GENERATED].append(stay.pk)
            for assignment in assignments:
                wanted[assignment.device_id] = (
                    assignment,
                    _plan(stay, code, mine.get(assignment.pk)),
                )
        if held:
            leaving = {d for d in wanted if _must_leave_for_hold(rows.get(d), now)}
            stay._held_device_ids = leaving
            for device_id in leaving:
                del wanted[device_id]
        listing_id = stay.listing_id
        touched = _write_plans(
            holder={"reservation": stay},
            organization_id=stay.organization_id,
            accesses=dict(rows),
            wanted=wanted,
            failure=failure,
            leave_reason=lambda access, stay=stay, listing_id=listing_id: _leave_reason(
                stay, access, listing_id
            ),
            now=now,
            held=held,
            save=save,
        )
        for access in touched:
            taken_codes.follow(access, stay)
        check_at = prearrival_schedule_for(
            reservation=stay, stored=stay.prearrival_check_at, now=now
        )
        if check_at != stay.prearrival_check_at:
            stay.prearrival_check_at = check_at
            rescheduled.append(stay)
        after = {**rows, **{access.device_id: access for access in touched}}
        told_after = _doors_told(after.values())
        if stay.status == Reservation.Status.CANCELLED and (told_before or was_held):
            events[signals.CODE_REVOKED].append(stay.pk)
        elif stay.is_live and not held and told_before and told_after != told_before:
            events[signals.CODE_CHANGED].append(stay.pk)
        if any(access.due_at is not None and access.due_at <= now for access in touched):
            transaction.on_commit(lambda pk=stay.pk: planning.enqueue_processing(pk))

    ReservationCode.objects.bulk_create(new_codes)
    update_many(
        ReservationCode, rotated, ["code_ciphertext", "code_digest", "generated_at", "rotated_at"]
    )
    access_states.plans_save(created=created, changed=changed, fields=planning.PLAN_FIELDS)
    update_many(Reservation, rescheduled, ["prearrival_check_at"])
    for event in signals.EVENTS:  # each stay's in the order the one-by-one planner tells
        if events.get(event):
            signals.announce_many(event, reservation_ids=events[event], at=now)

    # The turnovers around the stays follow, once per listing concerned.
    listing_ids = set(
        Turnover.objects.filter(Q(after_stay_id__in=ids) | Q(next_stay_id__in=ids)).values_list(
            "listing_id", flat=True
        )
    )
    listing_ids |= {stay.listing_id for stay in stays if stay.listing.turnovers_enabled}
    for listing_id in sorted(listing_ids):
        listing_turnovers_sync(listing_id=listing_id, now=now)
    # Other stays whose overrides were trimmed to keep out of these: their locks follow.
    for neighbour in Reservation.objects.filter(pk__in=trimmed).order_by("pk"):
        planning.reservation_replan(reservation=neighbour, now=now)
    return len(stays)


def _overrides(live: list[Reservation], doors) -> tuple[dict, list[AccessOverride]]:
    """The stays' own overrides (by stay, then assignment), and the overrides with a
    window of their own that may reach into them (planning._trim_neighbours_overrides'
    candidates for the whole set): one object per override, shared by both."""
    by_pk: dict[int, AccessOverride] = {}
    own: dict[int, dict[int, AccessOverride]] = defaultdict(dict)
    if not live:
        return own, []
    for override in AccessOverride.objects.filter(
        reservation_id__in=[stay.pk for stay in live]
    ).select_related("assignment", "reservation__listing"):
        by_pk[override.pk] = override
        own[override.reservation_id][override.assignment_id] = override
    device_ids = {a.device_id for stay in live for a in doors[stay.listing_id]}
    neighbours = []
    if device_ids:
        for override in (
            AccessOverride.objects.filter(
                assignment__device_id__in=device_ids,
                reservation__status=Reservation.Status.CONFIRMED,
                reservation__check_in__lt=max(stay.check_out for stay in live) + REACH,
                reservation__check_out__gt=min(stay.check_in for stay in live) - REACH,
            )
            .filter(Q(starts_at__isnull=False) | Q(ends_at__isnull=False))
            .select_related("assignment", "reservation__listing")
        ):
            neighbours.append(by_pk.setdefault(override.pk, override))
    return own, neighbours


def _trim_neighbours(
    stay: Reservation, assignments: list[LockAssignment], neighbours, now
) -> set[int]:
    """planning._trim_neighbours_overrides on the candidates read for the whole set."""
    device_ids = {a.device_id for a in assignments}
    trimmed = set()
    for override in neighbours:
        other = override.reservation
        if (
            override.reservation_id != stay.pk
            and override.assignment.device_id in device_ids
            and other.check_in < stay.check_out + REACH
            and other.check_out > stay.check_in - REACH
            and (override.starts_at is not None or override.ends_at is not None)
            and _override_trim(override, now)
        ):
            trimmed.add(override.reservation_id)
    return trimmed


def _stay_code(stay: Reservation, assignments, codes, taken_codes: _TakenCodes, now) -> str:
    """planning._ensure_code's choice, on what was read for the whole set."""
    starts, ends = stay.window
    taken = taken_codes.taken(
        [a.device_id for a in assignments],
        starts - stay.listing.lead_time,
        ends,
        exclude_reservation_id=stay.pk,
    )
    return _choose_code(stay, codes.get(stay.pk), _rules(assignments), taken, now)


def _code_kept(stay: Reservation, codes: dict, code: str, now, new_codes, rotated) -> bool:
    """The stay holds `code` from now on (planning._ensure_code's write, collected);
    True when it is the stay's first code."""
    existing = codes.get(stay.pk)
    if existing is not None and existing.value == code:
        return False
    first = existing is None
    if first:
        existing = codes[stay.pk] = ReservationCode(reservation=stay, generated_at=now)
        new_codes.append(existing)
    else:
        existing.rotated_at = now
        rotated.append(existing)
    existing.value = code
    existing.generated_at = now
    return first


__all__ = ["stays_replan"]
