"""Reads the lifecycle, pages and the API share."""

from __future__ import annotations

import dataclasses
import datetime
import zoneinfo
from collections.abc import Mapping

from django.db.models import Count, Exists, F, Min, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from core.access import scope_queryset
from locks.models import Device, LockAssignment, battery_low

from .activity import device_zone
from .models import DeviceAlert, LockAccess, Reservation, ReservationCode

State = LockAccess.State

# A lock in trouble is raised on the dashboard when a guest arrives within this time.
LOCK_HEALTH_WINDOW = datetime.timedelta(hours=48)


def taken_codes(
    *,
    device_ids: list[int],
    start: datetime.datetime,
    end: datetime.datetime,
    exclude_reservation_id: int | None = None,
    exclude_turnover_id: int | None = None,
) -> set[str]:
    """Codes other stays hold on these locks at some instant of [start, end), and the
    unmanaged codes (made in the lock's app or a PMS) on them in that period.

    A code occupies a lock from its programming instant to the end of its window; an
    unmanaged code for its window, an ongoing one (no window) for all time.
    """
    if not device_ids:
        return set()
    rows = LockAccess.objects.filter(
        device_id__in=device_ids,
        state__in=LockAccess.LIVE_STATES,
        program_at__lt=end,
        ends_at__gt=start,
    ).filter(Q(wanted=True) | ~Q(provider_id=""))
    if exclude_reservation_id is not None:
        rows = rows.exclude(reservation_id=exclude_reservation_id)
    if exclude_turnover_id is not None:
        rows = rows.exclude(turnover_id=exclude_turnover_id)
    taken = set()
    for access in rows.only("code_ciphertext", "provider_code_ciphertext"):
        taken.update(code for code in (access.code, access.provider_code) if code)
    from locks.models import UnmanagedCode

    unmanaged = (
        UnmanagedCode.objects.filter(device_id__in=device_ids)
        .exclude(code_ciphertext="")
        .filter(Q(starts_at__isnull=True) | Q(starts_at__lt=end))
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=start))
    )
    taken.update(code.code for code in unmanaged.only("code_ciphertext"))
    return taken


def accesses_unconfirmed(*, user, now, within=datetime.timedelta(hours=24)):
    """Codes the provider accepted that the lock has not confirmed yet, for stays under
    way or starting soon: sent is not the same as on the door."""
    return scope_queryset(
        LockAccess.objects.filter(
            state=LockAccess.State.REQUESTED,
            wanted=True,
            starts_at__lt=now + within,
            ends_at__gt=now,
            reservation__isnull=False,  # a crew code's: the dashboard's turnovers
        ).select_related("device", "reservation__listing__property"),
        user,
    )


def accesses_failing(*, user) -> QuerySet[LockAccess]:
    """Lock accesses with a provider failure that is not resolved yet (the dashboard)."""
    return scope_queryset(
        # A crew code's failure shows on the dashboard's turnovers (their code state).
        LockAccess.objects.filter(
            state=LockAccess.State.FAILED, reservation__isnull=False
        ).select_related("device__connection", "reservation__listing__property"),
        user,
    )


def accesses_late(*, user, now) -> QuerySet[LockAccess]:
    """Codes that should be on their lock by now and are not sent yet (LockAccess.late)."""
    return scope_queryset(
        LockAccess.objects.filter(LockAccess.late(now), reservation__isnull=False).select_related(
            "device", "reservation__listing__property"
        ),
        user,
    )


def without_guest_door(now) -> Q:
    """Confirmed stays, not over, that have a code but no door to put it on: no lock
    access is wanted (no lock of the listing takes guest codes), so nothing fails and
    nothing warns, and the guest would be sent a code that opens nothing."""
    doors = LockAccess.objects.filter(reservation_id=OuterRef("pk"), wanted=True).exclude(
        state__in=LockAccess.FINAL_STATES
    )
    return Q(
        Exists(ReservationCode.objects.filter(reservation_id=OuterRef("pk"))),
        ~Exists(doors),
        status=Reservation.Status.CONFIRMED,
        ended_at__isnull=True,
        check_out__gt=now,
    )


def stays_without_guest_door(*, user, now) -> QuerySet[Reservation]:
    return scope_queryset(
        Reservation.objects.filter(without_guest_door(now)).select_related("listing__property"),
        user,
    )


def first_stays_without_guest_door(*, user, now, limit: int = 200) -> list[Reservation]:
    """The first `limit` of them by check-in. Found first (check-in and id only), then
    read: ordered by the database, they would be sought in check-in order through every
    stay of the organization, rather than among the stays not over (the check-out index)."""
    found = stays_without_guest_door(user=user, now=now).order_by().values_list("check_in", "pk")
    first = [pk for _, pk in sorted(found)[:limit]]
    return list(
        Reservation.objects.filter(pk__in=first)
        .select_related("listing__property")
        .order_by("check_in", "pk")
    )


# ------------------------------------------------------------- today and tomorrow

DAYS = {"today": 0, "tomorrow": 1}


def departs_at(reservation: Reservation) -> datetime.datetime:
    """When the guest leaves: check-out, or earlier when staff ended the stay."""
    if reservation.ended_at is not None:
        return min(reservation.check_out, reservation.ended_at)
    return reservation.check_out


def _day(instant: datetime.datetime, zone: zoneinfo.ZoneInfo, now) -> int:
    """Days from the property's own today to the local day of `instant`."""
    return (timezone.localtime(instant, zone).date() - timezone.localtime(now, zone).date()).days


@dataclasses.dataclass
class StayDays:
    """Stays arriving and leaving on each property's own today (0) and tomorrow (1)."""

    arrivals: dict[int, list[Reservation]]
    departures: dict[int, list[Reservation]]

    def listed(self) -> list[Reservation]:
        """Each stay of the lists once (a stay may arrive and leave in them)."""
        stays = {}
        for day in [*self.arrivals.values(), *self.departures.values()]:
            stays.update((reservation.pk, reservation) for reservation in day)
        return list(stays.values())


# Each property's today and tomorrow lie within these bounds of `now`, whatever its zone:
# its today began less than a day ago (25 hours on a daylight-saving change) and its
# tomorrow ends less than two days from now (50 hours at most).
LOCAL_DAYS_BEFORE = datetime.timedelta(hours=26)
LOCAL_DAYS_AFTER = datetime.timedelta(hours=50)

# What the lists read of each stay, its listing and property (the rest is left unread).
STAY_ROW_FIELDS = [
    "organization_id",
    "listing_id",
    "guest_name",
    "check_in",
    "check_out",
    "status",
    "ended_at",
    "arrived_at",
    "listing__organization_id",
    "listing__name",
    "listing__property_id",
    "listing__property__organization_id",
    "listing__property__name",
    "listing__property__time_zone",
]


def stays_by_local_day(reservations: QuerySet[Reservation], *, now) -> StayDays:
    """Arrivals: confirmed stays, not ended, checking in that day. Departures: confirmed or
    checked-out stays whose guest leaves that day (at check-out, or when staff ended the
    stay). A cancelled stay is neither. One query (the fields of STAY_ROW_FIELDS), plus
    the caller's prefetches.

    Each day is the property's own: the slice read covers every zone's today and tomorrow
    (on the check-in, check-out and ended_at indexes), and each stay is placed by its local
    date.
    """
    Status = Reservation.Status
    low, high = now - LOCAL_DAYS_BEFORE, now + LOCAL_DAYS_AFTER
    rows = (
        reservations.filter(
            Q(status=Status.CONFIRMED, ended_at__isnull=True, check_in__range=(low, high))
            | Q(status__in=[Status.CONFIRMED, Status.CHECKED_OUT], check_out__range=(low, high))
            | Q(status__in=[Status.CONFIRMED, Status.CHECKED_OUT], ended_at__range=(low, high))
        )
        .select_related("listing__property")
        .only(*STAY_ROW_FIELDS)
        # Sorted here, not by the database: an ORDER BY would have it walk every stay of
        # the organization in check-in order rather than the three ranges.
        .order_by()
    )
    days = StayDays({0: [], 1: []}, {0: [], 1: []})
    for reservation in sorted(rows, key=lambda r: (r.check_in, r.pk)):
        zone = reservation.listing.property.zone
        if reservation.is_live and _day(reservation.check_in, zone, now) in days.arrivals:
            days.arrivals[_day(reservation.check_in, zone, now)].append(reservation)
        reservation.departs_at = departs_at(reservation)
        if _day(reservation.departs_at, zone, now) in days.departures:
            days.departures[_day(reservation.departs_at, zone, now)].append(reservation)
    for leaving in days.departures.values():
        leaving.sort(key=lambda r: (r.departs_at, r.pk))
    return days


def doors_prefetch() -> list[Prefetch]:
    """What `stay_doors` reads of each stay, for many stays in one query: its lock
    accesses (the fields it reads, with their door's name) as the list `door_accesses`."""
    return [
        Prefetch(
            "lock_accesses",
            queryset=LockAccess.objects.only(
                "reservation_id", "device_id", "wanted", "reason", "state", "starts_at", "ends_at"
            )
            .annotate(door=LockAccess.door_name_expression())
            .order_by("door", "pk"),
            to_attr="door_accesses",
        ),
    ]


@dataclasses.dataclass(frozen=True)
class DoorState:
    name: str
    device_id: int
    # A lock access state (LockAccess.State), or "unsupported": the door cannot take
    # codes on this provider.
    state: str
    label: str


def stay_doors(
    reservation: Reservation,
    now,
    *,
    leaving: bool = False,
    codeless: Mapping[int, list[Device]] | None = None,
) -> list[DoorState]:
    """Each door of a stay with where its code is at `now` (reads `doors_prefetch`).

    Arriving: the doors the guest's code is (or goes) on, and the listing's guest doors
    that cannot take codes on their provider (`codeless`, by listing: see
    `codeless_doors_by_listing`), said so. Leaving: every lock the code was on, so that
    staff see it leave.
    """
    doors = []
    for access in reservation.door_accesses:
        if not leaving and (not access.wanted or access.state in LockAccess.FINAL_STATES):
            continue
        state = access.current_state(now)
        label = LockAccess.State(state).label
        if not access.wanted and state not in LockAccess.FINAL_STATES | {State.REMOVING}:
            label = "to be removed"  # still on the lock (or on its way): the sweep takes it off
        if not access.wanted and access.reason:
            label += f" ({access.get_reason_display().lower()})"
        doors.append(DoorState(access.door, access.device_id, state, label))
    if not leaving and codeless:
        for device in codeless.get(reservation.listing_id, ()):
            label = "takes no codes on this provider"
            doors.append(DoorState(device.name, device.pk, "unsupported", label))
    return doors


# ----------------------------------------------------------------- before the guest arrives


# -------------------------------------------------------------------- the locks


def device_problems(device: Device) -> list[str]:
    """What is wrong with a lock, as the dashboard says it (its organization selected)."""
    problems = []
    if not device.online:
        problems.append("offline")
    if device.battery_is_low:
        problems.append(f"battery {device.battery_percent}%")
    return problems


@dataclasses.dataclass
class LockAtRisk:
    """A lock offline or low on battery, and the guests arriving soon who need it."""

    device: Device
    problems: list[str]
    arrivals: list[Reservation]
    # Its open alerts, and the zone to show their times in (the dashboard fills them).
    alerts: list[DeviceAlert] = dataclasses.field(default_factory=list)
    zone: zoneinfo.ZoneInfo | None = None


def locks_at_risk(*, user, now, within=LOCK_HEALTH_WINDOW) -> list[LockAtRisk]:
    """Locks offline or under their organization's battery threshold, each with the
    confirmed, not ended stays checking in within `within` at a listing where the lock has
    guest access; the lock of the soonest arrival first. Two queries, however many rows."""
    risky = LockAssignment.objects.filter(
        Q(device__online=False) | battery_low("device__"),
        guest_access=True,
        device__removed_at__isnull=True,
    )
    reservations = scope_queryset(
        Reservation.objects.filter(
            Exists(risky.filter(listing_id=OuterRef("listing_id"))),
            status=Reservation.Status.CONFIRMED,
            ended_at__isnull=True,
            check_in__gte=now,
            check_in__lte=now + within,
        )
        .select_related("listing__property")
        .prefetch_related(
            Prefetch(
                "listing__assignments",
                queryset=risky.select_related("device__organization").order_by(
                    "device__name", "pk"
                ),
                to_attr="risky_assignments",
            )
        )
        .order_by("check_in", "pk"),
        user,
    )
    locks: dict[int, LockAtRisk] = {}
    for reservation in reservations[:500]:
        for assignment in reservation.listing.risky_assignments:
            device = assignment.device
            if device.pk not in locks:
                locks[device.pk] = LockAtRisk(device, device_problems(device), [])
            locks[device.pk].arrivals.append(reservation)
    return list(locks.values())


def prearrival_alerts(*, user, limit: int = 200) -> list[DeviceAlert]:
    """Open "code not confirmed before arrival" alerts, soonest check-in first, each with
    its `access` (the stay's lock access on that lock, with any backup code), or None.
    Two queries, however many rows."""
    alerts = list(
        scope_queryset(
            DeviceAlert.objects.filter(
                kind=DeviceAlert.Kind.PREARRIVAL_FAILED, resolved_at__isnull=True
            )
            .select_related("device", "reservation__listing__property")
            .order_by(F("reservation__check_in").asc(nulls_last=True), "pk"),
            user,
        )[:limit]
    )
    pairs = {(a.reservation_id, a.device_id) for a in alerts if a.reservation_id}
    accesses = {}
    if pairs:
        rows = LockAccess.objects.filter(
            reservation_id__in={r for r, _ in pairs}, device_id__in={d for _, d in pairs}
        )
        accesses = {(a.reservation_id, a.device_id): a for a in rows}
    for alert in alerts:
        alert.access = accesses.get((alert.reservation_id, alert.device_id))
    return alerts


@dataclasses.dataclass
class LockTrouble:
    """One lock and everything wrong with it: the dashboard lists each lock once."""

    device: Device
    problems: list[str]
    alerts: list[DeviceAlert]
    zone: zoneinfo.ZoneInfo | None


def locks_in_trouble(*, user, limit: int = 200) -> list[LockTrouble]:
    """Locks offline, under their battery threshold or with an open alert (other than a
    code not confirmed before arrival, which the dashboard raises with its stay), each
    once with its problems and its alerts, by name. Three queries, however many rows;
    its times are in the zone of the lock's first listing."""
    open_alerts = DeviceAlert.objects.filter(resolved_at__isnull=True).exclude(
        kind=DeviceAlert.Kind.PREARRIVAL_FAILED
    )
    devices = scope_queryset(
        Device.objects.filter(
            Q(removed_at__isnull=True) & (Q(online=False) | battery_low())
            | Exists(open_alerts.filter(device_id=OuterRef("pk")))
        )
        .select_related("organization", "connection")
        .prefetch_related(
            Prefetch(
                "alerts",
                queryset=open_alerts.select_related("reservation").order_by("-opened_at", "-pk"),
                to_attr="open_alerts",
            ),
            Prefetch(
                "assignments",
                queryset=LockAssignment.objects.select_related("listing__property").order_by(
                    "role", "pk"
                ),
            ),
        )
        .order_by("name", "pk"),
        user,
    )
    rows = []
    for device in devices[:limit]:
        problems = device_problems(device) if device.removed_at is None else []
        rows.append(LockTrouble(device, problems, device.open_alerts, device_zone(device)))
    return rows


@dataclasses.dataclass
class DoorWithoutCodes:
    device: Device
    listings: list
    reason: str
    # The guest-access assignment of each of `listings`, in the same order.
    assignment_ids: list[int] = dataclasses.field(default_factory=list)


def doors_without_codes(*, user) -> list[DoorWithoutCodes]:
    """Guest doors whose provider cannot take codes (Device.codes_unsupported), each once
    with its listings: shown as such, rather than as a code failing every few minutes."""
    assignments = scope_queryset(
        LockAssignment.objects.filter(
            guest_access=True,
            device__removed_at__isnull=True,
            device__kind=Device.Kind.ACS_ENTRANCE,
        )
        .select_related("device__connection", "listing")
        .order_by("device__name", "device_id", "listing__name"),
        user,
    )
    doors: dict[int, DoorWithoutCodes] = {}
    for assignment in assignments:
        device = assignment.device
        reason = device.codes_unsupported
        if not reason:
            continue
        if device.pk not in doors:
            doors[device.pk] = DoorWithoutCodes(device, [], reason)
        doors[device.pk].listings.append(assignment.listing)
        doors[device.pk].assignment_ids.append(assignment.pk)
    return list(doors.values())


def codeless_doors_by_listing(doors: list[DoorWithoutCodes]) -> dict[int, list[Device]]:
    """Each listing's guest doors that take no codes (`doors_without_codes`), by name:
    what `stay_doors` adds to an arriving stay's doors, with no query per stay."""
    by_listing: dict[int, list[tuple[str, int, Device]]] = {}
    for door in doors:
        for listing, assignment_id in zip(door.listings, door.assignment_ids, strict=True):
            by_listing.setdefault(listing.pk, []).append(
                (door.device.name, assignment_id, door.device)
            )
    return {
        listing_id: [device for *_, device in sorted(rows, key=lambda row: row[:2])]
        for listing_id, rows in by_listing.items()
    }


# ------------------------------------------------------------------------- operations


@dataclasses.dataclass(frozen=True)
class Backlog:
    """Lock steps a worker could carry out and none has, though due for a while."""

    overdue: int
    oldest_due_at: datetime.datetime | None


def overdue_steps(*, now: datetime.datetime, older_than: datetime.timedelta) -> Backlog:
    """Steps due before `now - older_than` that no worker holds (no lease, or one run
    out) on a lock the provider is not holding back (`Device.backoff_until`): the same
    rule as the workers' own due work, so a step counts only when the cluster is behind.
    A failed step waits for its retry instant in `due_at`, so it is not counted either.
    One query on the `due_at` index."""
    found = (
        LockAccess.objects.filter(due_at__lt=now - older_than)
        .filter(LockAccess.unclaimed(now))
        .filter(Q(device__backoff_until__isnull=True) | Q(device__backoff_until__lte=now))
        .aggregate(overdue=Count("pk"), oldest_due_at=Min("due_at"))
    )
    return Backlog(**found)


# ------------------------------------------------------------------ double bookings


def overlapping_stays(
    *, listing_id: int, check_in, check_out, exclude_pk: int | None = None
) -> QuerySet[Reservation]:
    """The other confirmed stays at the listing whose nights overlap [check_in, check_out)
    (one leaving at the instant the next arrives is a turnover, not an overlap)."""
    stays = Reservation.objects.filter(
        listing_id=listing_id,
        status=Reservation.Status.CONFIRMED,
        ended_at__isnull=True,
        check_in__lt=check_out,
        check_out__gt=check_in,
    )
    if exclude_pk is not None:
        stays = stays.exclude(pk=exclude_pk)
    return stays.order_by("check_in", "pk")


def double_booking_warnings(reservation: Reservation) -> list[str]:
    """What a person should hear about a saved stay: each confirmed stay it overlaps."""
    if reservation.status != Reservation.Status.CONFIRMED or reservation.ended_at is not None:
        return []
    zone = reservation.listing.property.zone
    return [
        f"Double booking: overlaps {other.guest_name}'s stay "
        f"{timezone.localtime(other.check_in, zone):%Y-%m-%d %H:%M} → "
        f"{timezone.localtime(other.check_out, zone):%Y-%m-%d %H:%M} (reservation {other.pk})."
        for other in overlapping_stays(
            listing_id=reservation.listing_id,
            check_in=reservation.check_in,
            check_out=reservation.check_out,
            exclude_pk=reservation.pk,
        )[:5]
    ]


def double_bookings(*, user, now, limit: int = 200) -> list[tuple[Reservation, Reservation]]:
    """Pairs of confirmed stays at one listing that overlap and are not over yet, each
    pair once (the earlier-arriving stay first)."""
    live = scope_queryset(
        Reservation.objects.filter(
            status=Reservation.Status.CONFIRMED, ended_at__isnull=True, check_out__gt=now
        ),
        user,
    )
    later = Reservation.objects.filter(
        listing_id=OuterRef("listing_id"),
        status=Reservation.Status.CONFIRMED,
        ended_at__isnull=True,
        check_in__lt=OuterRef("check_out"),
        check_out__gt=OuterRef("check_in"),
    ).exclude(pk=OuterRef("pk"))
    firsts = list(
        live.filter(Exists(later))
        .select_related("listing__property")
        .order_by("check_in", "pk")[: limit * 2]
    )
    pairs: list[tuple[Reservation, Reservation]] = []
    seen: set[frozenset[int]] = set()
    for stay in firsts:
        for other in firsts:
            if other.pk == stay.pk or other.listing_id != stay.listing_id:
                continue
            key = frozenset((stay.pk, other.pk))
            if key in seen or not (
                other.check_in < stay.check_out and other.check_out > stay.check_in
            ):
                continue
            seen.add(key)
            pairs.append((stay, other) if stay.check_in <= other.check_in else (other, stay))
    return pairs[:limit]
