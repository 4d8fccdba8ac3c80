"""Reads the lifecycle, pages and the API share."""

from __future__ import annotations

import dataclasses
import datetime
import zoneinfo
from collections.abc import Mapping

from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    When,
)
from django.utils import timezone

from core.access import scope_queryset
from core.timezones import format_instant
from locks.models import Device, LockAssignment, battery_low
from locks.selectors import codes_unsupported

from . import sections
from .activity import device_zone
from .models import DeviceAlert, LockAccess, Reservation, ReservationCode
from .sections import Section, first_rows

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
    exclude_standing_id: int | None = None,
) -> set[str]:
    """Codes other stays hold on these locks at some instant of [start, end), and the
    unmanaged codes (made in the lock's app or a PMS) on them in that period.

    A code occupies a lock from its programming instant to the end of its window; an
    unmanaged code for its window, an ongoing one (no window) for all time. A code held
    until its guest is verified keeps its digits too, also while it is off the lock
    after a verification was revoked: it goes on the lock the moment the guest is.
    """
    if not device_ids:
        return set()
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
    )
    if exclude_reservation_id is not None:
        rows = rows.exclude(reservation_id=exclude_reservation_id)
    if exclude_turnover_id is not None:
        rows = rows.exclude(turnover_id=exclude_turnover_id)
    if exclude_standing_id is not None:
        rows = rows.exclude(standing_id=exclude_standing_id)
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


def unconfirmed(now, within=datetime.timedelta(hours=24)) -> Q:
    """Codes the provider accepted that the lock has not confirmed yet, for stays under
    way or starting within `within`: sent is not the same as on the door."""
    return Q(
        state=LockAccess.State.REQUESTED,
        wanted=True,
        starts_at__lt=now + within,
        ends_at__gt=now,
    )


def accesses_unconfirmed(*, user, now, within=datetime.timedelta(hours=24)):
    return scope_queryset(
        LockAccess.objects.filter(
            unconfirmed(now, within),
            reservation__isnull=False,  # a crew code's: the dashboard's turnovers
        ).select_related("device", "reservation__listing__property"),
        user,
    )


def failing() -> Q:
    """Lock accesses with a provider failure not resolved yet, on a door that takes codes
    (one that cannot is listed as such, not as failing every few minutes)."""
    return Q(state=LockAccess.State.FAILED) & ~codes_unsupported("device__")


def accesses_failing(*, user, crew: bool = False) -> QuerySet[LockAccess]:
    """Lock accesses with a provider failure that is not resolved yet: the guests' codes,
    and with `crew` the turnovers' codes too (the dashboard's "Codes failing")."""
    holders = Q(reservation__isnull=False)
    related = ["device__connection", "reservation__listing__property"]
    if crew:
        holders |= Q(turnover__isnull=False)
        related += ["turnover__listing__property", "turnover__assignee"]
    return scope_queryset(
        LockAccess.objects.filter(failing()).filter(holders).select_related(*related), user
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
    nothing warns, and the guest would be sent a code that opens nothing. A stay whose
    code is held for its guest's verification is on no lock by design: it is listed with
    the guests not verified instead."""
    doors = LockAccess.objects.filter(reservation_id=OuterRef("pk"), wanted=True).exclude(
        state__in=LockAccess.FINAL_STATES
    )
    # The door first: nearly every stay has one, and SQLite stops there.
    return Q(
        ~Exists(doors),
        Exists(ReservationCode.objects.filter(reservation_id=OuterRef("pk"))),
        ~Q(verification_required=True, verified_at__isnull=True),
        status=Reservation.Status.CONFIRMED,
        ended_at__isnull=True,
        check_out__gt=now,
    )


def stays_without_guest_door(*, user, now) -> QuerySet[Reservation]:
    return scope_queryset(
        Reservation.objects.filter(without_guest_door(now)).select_related("listing__property"),
        user,
    )


def first_stays_without_guest_door(*, user, now, url: str = "", what: str = "") -> Section:
    """The first of them by check-in, and how many. Found first (check-in and id only),
    then read: ordered by the database, they would be sought in check-in order through
    every stay of the organization, rather than among the stays not over (the check-out
    index)."""
    found = stays_without_guest_door(user=user, now=now).order_by().values_list("check_in", "pk")
    found = sorted(found)
    first = [pk for _, pk in found[: sections.SECTION_ROWS]]
    rows = list(
        Reservation.objects.filter(pk__in=first)
        .select_related("listing__property")
        .order_by("check_in", "pk")
    )
    return Section(rows, min(len(found), sections.COUNT_CAP + 1), url, what)


# ------------------------------------------------------------- today and tomorrow

DAYS = {"today": 0, "tomorrow": 1}


def departs_at(reservation: Reservation) -> datetime.datetime:
    """When the guest leaves: check-out, or earlier when staff ended the stay."""
    if reservation.ended_at is not None:
        return min(reservation.check_out, reservation.ended_at)
    return reservation.check_out


def local_day(zone_name: str, now, offset: int) -> tuple[datetime.datetime, datetime.datetime]:
    """The instants of a zone's local day `offset` (0 today, 1 tomorrow) at `now`: [start,
    end), 23 or 25 hours on a daylight-saving change."""
    zone = zoneinfo.ZoneInfo(zone_name)
    day = timezone.localtime(now, zone).date() + datetime.timedelta(days=offset)
    start = datetime.datetime.combine(day, datetime.time(), zone)
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(), zone)
    return start, end


def _on_local_day(field: str, zones, now, offset: int) -> Q:
    """`field` on its property's local day `offset`: one range per zone (an OR), inside
    the range of them all (which the index on `field` reads)."""
    days = {name: local_day(name, now, offset) for name in zones}
    if not days:
        return Q(pk__in=[])
    each = Q()
    for name, (start, end) in days.items():
        each |= Q(
            listing__property__time_zone=name,
            **{f"{field}__gte": start, f"{field}__lt": end},
        )
    low = min(start for start, _ in days.values())
    high = max(end for _, end in days.values())
    return Q(each, **{f"{field}__gte": low, f"{field}__lt": high})


def arriving_on(zones, now, offset: int) -> Q:
    """Confirmed stays, not ended, checking in on their property's own today (offset 0) or
    tomorrow (1): the dashboard's arrivals and the reservation list's "arriving" filter.
    `zones`: the time zones of the properties read (any superset will do)."""
    return Q(
        _on_local_day("check_in", zones, now, offset),
        status=Reservation.Status.CONFIRMED,
        ended_at__isnull=True,
    )


def leaving_on(zones, now, offset: int) -> Q:
    """Confirmed or checked-out stays whose guest leaves on their property's local day
    `offset`: at check-out, or earlier when staff ended the stay (`departs_at`). A
    cancelled stay never leaves."""
    at_check_out = Q(ended_at__isnull=True) | Q(ended_at__gte=F("check_out"))
    return Q(
        Q(_on_local_day("check_out", zones, now, offset), at_check_out)
        | Q(_on_local_day("ended_at", zones, now, offset), ended_at__lt=F("check_out")),
        status__in=[Reservation.Status.CONFIRMED, Reservation.Status.CHECKED_OUT],
    )


def with_departure(reservations: QuerySet[Reservation]) -> QuerySet[Reservation]:
    """Annotated with `departs_at` (see `departs_at`), in that order."""
    return reservations.annotate(
        departs_at=Case(
            When(ended_at__lt=F("check_out"), then=F("ended_at")), default=F("check_out")
        )
    ).order_by("departs_at", "pk")


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
    # Whether its code is held until the guest is verified (Reservation.code_held).
    "verification_required",
    "verified_at",
    "listing__organization_id",
    "listing__name",
    "listing__property_id",
    "listing__property__organization_id",
    "listing__property__name",
    "listing__property__time_zone",
]


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


def _arriving(now, within, **where) -> QuerySet[Reservation]:
    """Confirmed stays, not ended, checking in within `within` of `now`."""
    return Reservation.objects.filter(
        status=Reservation.Status.CONFIRMED,
        ended_at__isnull=True,
        check_in__gte=now,
        check_in__lte=now + within,
        **where,
    )


def at_risk_before_arrival(now, within=LOCK_HEALTH_WINDOW) -> Q:
    """Locks offline or under their battery threshold, present at the provider, with
    guest access at a listing where a stay arrives within `within` (`_arriving`): the
    dashboard's first section and the lock list's "trouble: before an arrival"."""
    doors = LockAssignment.objects.filter(
        Exists(_arriving(now, within, listing_id=OuterRef("listing_id"))),
        device_id=OuterRef("pk"),
        guest_access=True,
    )
    return Q(Q(online=False) | battery_low(), Exists(doors), removed_at__isnull=True)


def locks_at_risk(
    *,
    user,
    now,
    within=LOCK_HEALTH_WINDOW,
    url: str = "",
    what: str = "",
    limit=None,
    counted: bool = True,
) -> Section:
    """Locks at risk before an arrival (`at_risk_before_arrival`), the lock of the soonest
    arrival first, each with its problems and the stays arriving at its listings: the first
    `limit` and how many (unless not `counted`). Four queries, however many rows."""
    first_arrival = _arriving(
        now,
        within,
        listing__assignments__device_id=OuterRef("pk"),
        listing__assignments__guest_access=True,
    ).order_by("check_in")
    devices = first_rows(
        scope_queryset(
            Device.objects.filter(at_risk_before_arrival(now, within))
            .annotate(first_arrival=Subquery(first_arrival.values("check_in")[:1]))
            .select_related("organization")
            .order_by("first_arrival", "name", "pk"),
            user,
        ),
        url=url,
        what=what,
        limit=limit,
        counted=counted,
    )
    doors = LockAssignment.objects.filter(
        device_id__in=[device.pk for device in devices], guest_access=True
    ).values_list("listing_id", "device_id")
    locks_of: dict[int, list[int]] = {}
    for listing_id, device_id in doors:
        locks_of.setdefault(listing_id, []).append(device_id)
    rows = {device.pk: LockAtRisk(device, device_problems(device), []) for device in devices}
    arrivals = (
        _arriving(now, within, listing_id__in=list(locks_of))
        .select_related("listing__property")
        .order_by("check_in", "pk")
    )
    for reservation in arrivals if locks_of else []:
        for device_id in locks_of[reservation.listing_id]:
            rows[device_id].arrivals.append(reservation)
    devices.rows = list(rows.values())
    return devices


def prearrival_alerts(*, user, url: str = "", what: str = "") -> Section:
    """Open "code not confirmed before arrival" alerts, soonest check-in first, each with
    its `access` (the stay's lock access on that lock, with any backup code), or None:
    the first rows and their count. Three queries at most, however many rows."""
    alerts = first_rows(
        scope_queryset(
            DeviceAlert.objects.filter(
                kind=DeviceAlert.Kind.PREARRIVAL_FAILED, resolved_at__isnull=True
            )
            .select_related("device", "reservation__listing__property")
            .order_by(F("reservation__check_in").asc(nulls_last=True), "pk"),
            user,
        ),
        url=url,
        what=what,
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


def _open_alerts():
    """Open alerts listed with their lock (a code not confirmed before arrival is raised
    with its stay instead; a feed's or a double booking's, with its listing)."""
    return DeviceAlert.objects.filter(resolved_at__isnull=True, device__isnull=False).exclude(
        kind=DeviceAlert.Kind.PREARRIVAL_FAILED
    )


def in_trouble() -> Q:
    """Devices offline, under their battery threshold (both while present at the
    provider) or with an open alert."""
    return Q(removed_at__isnull=True) & (Q(online=False) | battery_low()) | Exists(
        _open_alerts().filter(device_id=OuterRef("pk"))
    )


def locks_in_trouble(
    *, user, limit: int | None = None, only=None, leave_out=None
) -> list[LockTrouble]:
    """Locks in trouble (`in_trouble`), each once with its problems and its alerts, by
    name: the first `limit`, of `only` these device ids if given, `leave_out` left out.
    Three queries, however many rows; its times are in the zone of the lock's first
    listing."""
    devices = Device.objects.filter(in_trouble())
    if only is not None:
        devices = devices.filter(pk__in=only)
    if leave_out is not None:
        devices = devices.exclude(pk__in=leave_out)
    devices = scope_queryset(
        devices.select_related("organization", "connection")
        .prefetch_related(
            Prefetch(
                "alerts",
                queryset=_open_alerts()
                .select_related("reservation")
                .order_by("-opened_at", "-pk"),
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
    for device in devices[: limit or sections.SECTION_ROWS]:
        problems = device_problems(device) if device.removed_at is None else []
        rows.append(LockTrouble(device, problems, device.open_alerts, device_zone(device)))
    return rows


def lock_trouble_counts(*, user) -> dict[str, int]:
    """How many locks are in trouble, offline, low on battery (both while present at the
    provider), and how many alerts they have open: two queries."""
    present = Q(removed_at__isnull=True)
    counts = scope_queryset(Device.objects.all(), user).aggregate(
        locks=Count("pk", filter=in_trouble()),
        offline=Count("pk", filter=present & Q(online=False)),
        low_battery=Count("pk", filter=present & battery_low()),
    )
    counts["alerts"] = scope_queryset(_open_alerts(), user).count()
    return counts


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
    # In the property's zone, named ("2026-11-30 15:00 WET"), as every admin time is.
    return [
        f"Double booking: overlaps {other.guest_name}'s stay "
        f"{format_instant(other.check_in, zone)} → "
        f"{format_instant(other.check_out, zone)} (reservation {other.pk})."
        for other in overlapping_stays(
            listing_id=reservation.listing_id,
            check_in=reservation.check_in,
            check_out=reservation.check_out,
            exclude_pk=reservation.pk,
        )[:5]
    ]


def double_booked(reservations: QuerySet[Reservation], now) -> list[tuple[tuple, tuple]]:
    """Pairs of confirmed stays, not over, that overlap at their listing, each pair once,
    as (listing_id, check_in, pk, check_out) tuples, the earlier arrival first.

    The stays that overlap another are found in the database (each stay not over, from
    the check-out index, against its listing's stays that end after it begins, on the
    (listing, check-out) index: the few to come, not the listing's past), then paired
    here, a listing's stays in check-in order."""
    live = Q(status=Reservation.Status.CONFIRMED, ended_at__isnull=True, check_out__gt=now)
    other = Reservation.objects.filter(
        live,
        listing_id=OuterRef("listing_id"),
        check_out__gt=OuterRef("check_in"),
        check_in__lt=OuterRef("check_out"),
    ).exclude(pk=OuterRef("pk"))
    found = reservations.filter(live, Exists(other)).order_by()
    pairs = []
    listing, staying = None, []
    for stay in sorted(found.values_list("listing_id", "check_in", "pk", "check_out")):
        if stay[0] != listing:
            listing, staying = stay[0], []
        # The stays of the listing that began before this one and end after it begins.
        staying = [other for other in staying if other[3] > stay[1]]
        pairs += [(other, stay) for other in staying]
        staying.append(stay)
    return pairs


def double_bookings(*, user, now, url: str = "", what: str = "") -> Section:
    """Pairs of confirmed stays at one listing that overlap and are not over yet, each
    pair once (the earlier-arriving stay first), the first pairs read and how many."""
    pairs = double_booked(scope_queryset(Reservation.objects.all(), user), now)
    pairs.sort(key=lambda pair: (pair[0][1], pair[0][2], pair[1][1], pair[1][2]))
    section = Section.of(pairs, url=url, what=what)
    shown = {stay[2] for pair in section.rows for stay in pair}
    stay = Reservation.objects.select_related("listing__property").in_bulk(shown)
    section.rows = [(stay[first[2]], stay[second[2]]) for first, second in section.rows]
    return section
