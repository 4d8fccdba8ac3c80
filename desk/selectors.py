"""Reads of the front desk and the search box: a bounded number of queries each, whatever
the number of stays (tests/desk/test_front_desk.py)."""

from __future__ import annotations

import dataclasses
import datetime
import re
import zoneinfo

from django.db import connection
from django.db.models import Q, prefetch_related_objects
from django.db.models.expressions import RawSQL
from django.utils import timezone

from core.access import principal_of, scope_queryset
from core.search_text import digits, fold
from locks.models import UnmanagedCode
from properties.models import Property
from reservations.models import (
    WAITING_SINCE,
    AccessOverride,
    LockAccess,
    Reservation,
    ReservationCode,
)
from reservations.selectors import (
    STAY_ROW_FIELDS,
    DoorState,
    LockAtRisk,
    accesses_failing,
    accesses_late,
    codeless_doors_by_listing,
    departs_at,
    doors_prefetch,
    doors_without_codes,
    locks_at_risk,
    stay_doors,
)

# What the desk shows of a stay beyond the dashboard's row.
DESK_FIELDS = [*STAY_ROW_FIELDS, "guest_email", "guest_phone", "external_id", "source"]

# "In house now" is read on the check-out index, soonest leaving first, a window at a
# time: the stays leaving within a day, then a week, then IN_HOUSE_REACH (a stay leaving
# later than that is a lease, not a night's booking; it shows in the reservation list).
# Asked in one go, the database would rather read every stay checked in over the months
# before now, and sort them.
IN_HOUSE_REACH = datetime.timedelta(days=90)
IN_HOUSE_STEPS = [datetime.timedelta(days=1), datetime.timedelta(days=7), IN_HOUSE_REACH]
# At most this many stays in a list of the desk, the earliest first: a screen, not a
# report. Across every property a phone shows a few of each; one property's own lists
# are seldom longer than LISTED_ONE_PROPERTY.
LISTED = 10
LISTED_ONE_PROPERTY = 100
# At most this many stays found by the search, and code matches of each kind.
SHOWN = 200


@dataclasses.dataclass
class DeskStay:
    reservation: Reservation
    doors: list[DoorState]
    has_code: bool
    sent_at: datetime.datetime | None

    @property
    def trouble(self) -> bool:
        return any(door.state == LockAccess.State.FAILED for door in self.doors)


@dataclasses.dataclass
class PropertyDay:
    """One property's stays on its own today and tomorrow, and who is in now."""

    name: str
    zone: zoneinfo.ZoneInfo
    today: datetime.date
    arrivals: dict[int, list[DeskStay]] = dataclasses.field(default_factory=lambda: {0: [], 1: []})
    departures: dict[int, list[DeskStay]] = dataclasses.field(
        default_factory=lambda: {0: [], 1: []}
    )
    in_house: list[DeskStay] = dataclasses.field(default_factory=list)

    @property
    def tomorrow(self) -> datetime.date:
        return self.today + datetime.timedelta(days=1)


@dataclasses.dataclass
class FrontDesk:
    late: list[LockAccess]
    failing: list[LockAccess]
    at_risk: list[LockAtRisk]
    properties: list[PropertyDay]
    # A list reached its length: the desk says so (and offers the property picker).
    capped: bool
    listed: int
    choices: list[tuple[int, str]]
    property_id: int | None


def local_day_span(
    zones: set[str], now, offset: int
) -> tuple[datetime.datetime, datetime.datetime]:
    """The instants that are some zone's local day `offset` (0 today, 1 tomorrow) at
    `now`: from the earliest of those days' starts to the latest of their ends."""
    starts, ends = [], []
    for name in zones or {"UTC"}:
        zone = zoneinfo.ZoneInfo(name)
        day = timezone.localtime(now, zone).date() + datetime.timedelta(days=offset)
        start = datetime.datetime.combine(day, datetime.time(), zone)
        starts.append(start)
        ends.append(
            datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(), zone)
        )
    return min(starts), max(ends)


def _day(instant: datetime.datetime, zone: zoneinfo.ZoneInfo, now) -> int:
    return (timezone.localtime(instant, zone).date() - timezone.localtime(now, zone).date()).days


def _first(rows, key: str, limit: int) -> list[Reservation]:
    """The first `limit` + 1 rows in `key` order (one more tells that the list is cut)."""
    return list(
        rows.select_related("listing__property")
        .only(*DESK_FIELDS)
        .order_by(key, "pk")[: limit + 1]
    )


def _late(*, user, now) -> list[LockAccess]:
    """The codes late to reach their lock (LockAccess.late), earliest due first: one range
    of the waiting codes' index (reservations.models.WAITING_SINCE)."""
    late = accesses_late(user=user, now=now).order_by(WAITING_SINCE, "pk")
    return list(late[:LISTED])


def front_desk(*, user, now, property_id: int | None = None) -> FrontDesk:
    """Each property's arrivals and departures on its own today and tomorrow, the stays
    in house now, each with its doors and where its code is; above them, the codes late
    or failing and the locks in trouble before an arrival.

    Each list is the first LISTED stays in time order, found on the check-in and
    check-out indexes (a count of queries that does not grow with the stays, and rows
    read bounded whatever the size of the organization); `property_id` narrows the desk
    to one property.
    """
    Status = Reservation.Status
    stays = scope_queryset(Reservation.objects.all(), user)
    properties_qs = scope_queryset(Property.objects.all(), user)
    choices = list(properties_qs.order_by("name", "pk").values_list("pk", "name")[: SHOWN * 10])
    limit = LISTED
    if property_id is not None:
        limit = LISTED_ONE_PROPERTY
        stays = stays.filter(listing__property_id=property_id)
        properties_qs = properties_qs.filter(pk=property_id)
    zones = set(properties_qs.order_by().values_list("time_zone", flat=True).distinct())
    arriving, leaving = {}, {}
    for offset in (0, 1):
        start, end = local_day_span(zones, now, offset)
        arriving[offset] = _first(
            stays.filter(
                status=Status.CONFIRMED,
                ended_at__isnull=True,
                check_in__gte=start,
                check_in__lt=end,
            ),
            "check_in",
            limit,
        )
        leaving[offset] = _first(
            stays.filter(
                status__in=[Status.CONFIRMED, Status.CHECKED_OUT],
                check_out__gte=start,
                check_out__lt=end,
            ),
            "check_out",
            limit,
        )
    start, end = local_day_span(zones, now, 0)[0], local_day_span(zones, now, 1)[1]
    # Stays staff ended early leave at that instant: few, on their own partial index.
    ended = list(
        stays.filter(
            status__in=[Status.CONFIRMED, Status.CHECKED_OUT],
            ended_at__gte=start,
            ended_at__lt=end,
        )
        .select_related("listing__property")
        .only(*DESK_FIELDS)[: limit + 1]
    )
    staying: list[Reservation] = []
    lower = now
    for step in IN_HOUSE_STEPS:
        staying += _first(
            stays.filter(
                status=Status.CONFIRMED,
                ended_at__isnull=True,
                check_in__lte=now,
                check_out__gt=lower,
                check_out__lte=now + step,
            ),
            "check_out",
            limit - len(staying),
        )
        if len(staying) > limit:
            break
        lower = now + step
    capped = any(
        len(rows) > limit for rows in [*arriving.values(), *leaving.values(), ended, staying]
    )
    listed = [
        *(r for rows in arriving.values() for r in rows[:limit]),
        *(r for rows in leaving.values() for r in rows[:limit]),
        *ended[:limit],
        *staying[:limit],
    ]
    prefetch_related_objects(listed, *doors_prefetch())
    codes = dict(
        ReservationCode.objects.filter(reservation_id__in={r.pk for r in listed}).values_list(
            "reservation_id", "sent_at"
        )
    )
    codeless = codeless_doors_by_listing(doors_without_codes(user=user))
    properties: dict[int, PropertyDay] = {}

    def desk_stay(reservation: Reservation, *, leaving: bool = False) -> DeskStay:
        doors = stay_doors(reservation, now, leaving=leaving, codeless=codeless)
        return DeskStay(reservation, doors, reservation.pk in codes, codes.get(reservation.pk))

    def day_of(reservation: Reservation) -> PropertyDay:
        prop = reservation.listing.property
        if prop.pk not in properties:
            today = timezone.localtime(now, prop.zone).date()
            properties[prop.pk] = PropertyDay(prop.name, prop.zone, today)
        return properties[prop.pk]

    for offset, rows in arriving.items():
        for reservation in rows[:limit]:
            if _day(reservation.check_in, reservation.listing.property.zone, now) == offset:
                day_of(reservation).arrivals[offset].append(desk_stay(reservation))
    departing = {}
    for reservation in [r for rows in leaving.values() for r in rows[:limit]] + ended[:limit]:
        reservation.departs_at = departs_at(reservation)
        departing[reservation.pk] = reservation
    for reservation in sorted(departing.values(), key=lambda r: (r.departs_at, r.pk)):
        offset = _day(reservation.departs_at, reservation.listing.property.zone, now)
        if offset in (0, 1):
            day_of(reservation).departures[offset].append(desk_stay(reservation, leaving=True))
    # In house: the stays staying on; one arriving or leaving today is in its own list.
    today = {
        stay.reservation.pk
        for day in properties.values()
        for stay in [*day.arrivals[0], *day.departures[0]]
    }
    for reservation in staying[:limit]:
        if reservation.pk not in today:
            day_of(reservation).in_house.append(desk_stay(reservation))
    return FrontDesk(
        late=_late(user=user, now=now),
        failing=[
            access
            for access in accesses_failing(user=user).order_by("last_error_at", "pk")[:LISTED]
            if not access.device.codes_unsupported
        ],
        at_risk=locks_at_risk(user=user, now=now, limit=LISTED, counted=False).rows,
        properties=sorted(properties.values(), key=lambda p: p.name.casefold()),
        capped=capped,
        listed=limit,
        choices=choices,
        property_id=property_id,
    )


# ------------------------------------------------------------------------- the search box

# Door codes are 4 to 12 characters, letters or digits (Seam's constraints allow both).
CODE_SHAPE = re.compile(r"[0-9A-Za-z]{4,12}")
PHONE_SHAPE = re.compile(r"[\d\s+().-]+")
MIN_TERM = 2


def looks_like_code(term: str) -> bool:
    """A term the search also tries as an exact door code: one word of 4-12 letters or
    digits with at least one digit (a name is never sent through the code lookup)."""
    return bool(CODE_SHAPE.fullmatch(term)) and any(ch.isdigit() for ch in term)


@dataclasses.dataclass
class StaySearch:
    stays: list[Reservation]
    # More stays matched than are shown: the person should type more.
    capped: bool


def search_words(term: str) -> list[str]:
    """What each stay's search_text must contain: a phone number's digits as one word,
    else each folded word."""
    term = term.strip()
    if PHONE_SHAPE.fullmatch(term) and len(digits(term)) >= 4:
        return [digits(term)]
    return [word for word in fold(term).split(" ") if word]


def find_stays(*, user, term: str, limit: int = 50) -> StaySearch:
    """Stays of the person's organizations whose guest name, email, phone digits or
    external id contain every word of `term`, most recent check-in first.

    Found by id on the search-text index first (no ORDER BY: ordered, the database would
    walk every stay by date), then read: two queries.
    """
    words = search_words(term)
    if not words or sum(map(len, words)) < MIN_TERM:
        return StaySearch([], False)
    found = scope_queryset(Reservation.objects.all(), user)
    if (
        connection.vendor == "sqlite"
        and all(len(word) >= 3 for word in words)
        and not any(ch in word for word in words for ch in "%_")
    ):
        # SQLite: the trigram full-text table (migration 0017) answers LIKE on its index;
        # the column itself would be scanned, stay by stay.
        where = " AND ".join(["search_text LIKE %s"] * len(words))
        found = found.filter(
            pk__in=RawSQL(
                f"SELECT rowid FROM reservation_search WHERE {where}",
                [f"%{word}%" for word in words],
            )
        )
    else:
        # PostgreSQL: the trigram GIN index answers LIKE; shorter terms are scanned.
        found = found.filter(*(Q(search_text__contains=word) for word in words))
    ids = list(found.order_by().values_list("pk", flat=True)[: SHOWN + 1])
    capped = len(ids) > SHOWN
    rows = (
        Reservation.objects.filter(pk__in=ids[:SHOWN])
        .select_related("listing__property")
        .only(*DESK_FIELDS)
        .order_by("-check_in", "-pk")
    )
    return StaySearch(list(rows[:limit]), capped or len(ids) > limit)


@dataclasses.dataclass(frozen=True)
class CodeMatch:
    """Where an exact code is, or was: a stay's code (on a door, or the stay's own), a
    backup code, an override, or a code made outside Keystay."""

    what: str
    organization_id: int
    reservation: Reservation | None
    door: str
    starts_at: datetime.datetime | None
    ends_at: datetime.datetime | None
    state: str
    zone: zoneinfo.ZoneInfo | None

    def record(self) -> dict:
        return {
            "what": self.what,
            "reservation": self.reservation.pk if self.reservation else None,
            "door": self.door,
        }


def code_lookup_organizations(user) -> set[int]:
    """Whose codes a person may look up: their own organizations' only. A superuser's
    reach over every organization does not extend to finding codes by their digits."""
    return principal_of(user).organization_ids


def stays_holding_code(*, organization_ids: set[int], digest: str) -> list[CodeMatch]:
    """Every place an exact code (its keyed hash) is or was kept in these organizations,
    latest window first: four indexed queries."""
    if not organization_ids or not digest:
        return []
    matches: list[CodeMatch] = []
    stay = "reservation__listing__property"
    # Each digest column on its own index, then the rows by id: asked with an OR, an
    # ORDER BY and the organization, SQLite walks the organization's every lock access.
    ids = (
        LockAccess.objects.filter(code_digest=digest)
        .order_by()
        .values("pk")
        .union(
            LockAccess.objects.filter(provider_code_digest=digest).order_by().values("pk"),
            LockAccess.objects.filter(backup_code_digest=digest).order_by().values("pk"),
        )
    )
    accesses = sorted(
        LockAccess.objects.filter(pk__in=[row["pk"] for row in ids[:SHOWN]])
        .filter(organization_id__in=organization_ids, reservation__isnull=False)
        .select_related("device", "assignment", stay),
        key=lambda access: (-access.ends_at.timestamp(), access.pk),
    )
    seen_stays = set()
    for access in accesses:
        reservation = access.reservation
        seen_stays.add(reservation.pk)
        backup = access.backup_code_digest == digest and access.code_digest != digest
        matches.append(
            CodeMatch(
                "backup code" if backup else "guest code on the door",
                access.organization_id,
                reservation,
                access.door_name,
                access.backup_starts_at if backup else access.starts_at,
                access.backup_ends_at if backup else access.ends_at,
                LockAccess.State(access.current_state()).label,
                reservation.listing.property.zone,
            )
        )
    codes = (
        ReservationCode.objects.filter(
            reservation__organization_id__in=organization_ids, code_digest=digest
        )
        .select_related(stay)
        .order_by("-reservation__check_out")[:SHOWN]
    )
    for code in codes:
        reservation = code.reservation
        if reservation.pk in seen_stays:
            continue  # already shown with its doors
        matches.append(
            CodeMatch(
                "stay code",
                reservation.organization_id,
                reservation,
                "",
                reservation.check_in,
                reservation.check_out,
                reservation.get_status_display(),
                reservation.listing.property.zone,
            )
        )
    overrides = (
        AccessOverride.objects.filter(
            reservation__organization_id__in=organization_ids, code_digest=digest
        )
        .select_related("assignment__device", stay)
        .order_by("-reservation__check_out")[:SHOWN]
    )
    for override in overrides:
        reservation = override.reservation
        if reservation.pk in seen_stays:
            continue
        matches.append(
            CodeMatch(
                "override code",
                reservation.organization_id,
                reservation,
                override.assignment.door_label,
                override.starts_at or reservation.check_in,
                override.ends_at or reservation.check_out,
                reservation.get_status_display(),
                reservation.listing.property.zone,
            )
        )
    unmanaged = (
        UnmanagedCode.objects.filter(organization_id__in=organization_ids, code_digest=digest)
        .select_related("device")
        .order_by("device__name", "pk")[:SHOWN]
    )
    for code in unmanaged:
        matches.append(
            CodeMatch(
                f"code made outside Keystay: {code.display_name}",
                code.organization_id,
                None,
                code.device.name,
                code.starts_at,
                code.ends_at,
                code.status or "on the lock",
                None,
            )
        )
    return matches
