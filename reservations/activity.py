"""Reads of lock events, unmanaged codes and alerts that pages share.

Every function reads in a fixed number of queries, however many rows there are. Rows
that a template shows with times get a `zone` attribute: the time zone of the property
whose door it is (None when the lock is at no listing; templates then use the default).
"""

from __future__ import annotations

import datetime
import zoneinfo
from collections.abc import Iterable

from django.conf import settings
from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery

from core.access import scope_queryset
from locks.models import LockAssignment, UnmanagedCode

from .models import DeviceAlert, LockAccess, LockEvent

# A reservation page lists this many of its events, newest first.
RESERVATION_EVENTS_LIMIT = 200


def device_zone(device) -> zoneinfo.ZoneInfo | None:
    """The zone of a device's first listing (prefetched assignments), if any."""
    for assignment in device.assignments.all():
        return assignment.listing.property.zone
    return None


def lock_place(field: str, device: str = "device") -> Subquery:
    """`field` of a lock's first listing (primary first), as a column: the place, and so
    the time zone, that pages and files give a lock's events and alerts."""
    return Subquery(
        LockAssignment.objects.filter(device=OuterRef(device))
        .order_by("role", "pk")
        .values(field)[:1]
    )


def zone_named(name: str | None) -> zoneinfo.ZoneInfo:
    """A property's zone by name; the project's (UTC) for a lock at no listing."""
    return zoneinfo.ZoneInfo(name or settings.TIME_ZONE)


def _assignments_with_property() -> Prefetch:
    return Prefetch(
        "device__assignments",
        queryset=LockAssignment.objects.select_related("listing__property").order_by("role", "pk"),
    )


def with_zones(events: Iterable[LockEvent]) -> list[LockEvent]:
    """Events (from `feed_events`, which prefetches what this reads) with their zone."""
    rows = list(events)
    for event in rows:
        event.zone = device_zone(event.device)
    return rows


# ------------------------------------------------------------------------ the feed


def feed_events(
    *,
    user,
    property_id: int | None = None,
    listing_id: int | None = None,
    device_id: int | None = None,
    person: str = "",
    kind: str = "",
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
) -> QuerySet[LockEvent]:
    """The activity feed: the person's organizations' lock events, newest first.

    A listing's events are those of the locks assigned to it; a property's, those of the
    locks of its listings (a lock shared by two listings appears once).
    """
    events = scope_queryset(LockEvent.objects.all(), user)
    if property_id is not None:
        events = events.filter(
            device_id__in=LockAssignment.objects.filter(listing__property_id=property_id).values(
                "device_id"
            )
        )
    if listing_id is not None:
        events = events.filter(
            device_id__in=LockAssignment.objects.filter(listing_id=listing_id).values("device_id")
        )
    if device_id is not None:
        events = events.filter(device_id=device_id)
    if person:
        events = events.filter(person_name__icontains=person)
    if kind:
        events = events.filter(kind=kind)
    if since is not None:
        events = events.filter(occurred_at__gte=since)
    if until is not None:
        events = events.filter(occurred_at__lt=until)
    return (
        events.select_related("device", "reservation", "unmanaged_code", "turnover__listing")
        .prefetch_related(_assignments_with_property())
        .order_by("-occurred_at", "-pk")
    )


# ------------------------------------------------------------ a reservation's page


def _reservation_device_ids(reservation) -> Q:
    """The doors of the reservation's listing, and any lock its code was put on."""
    return Q(
        device_id__in=LockAssignment.objects.filter(listing_id=reservation.listing_id).values(
            "device_id"
        )
    ) | Q(
        device_id__in=LockAccess.objects.filter(reservation_id=reservation.pk).values("device_id")
    )


def events_for_reservation(reservation, *, limit: int = RESERVATION_EVENTS_LIMIT):
    """A stay's own events, newest first: those of its code (set, failed, unlocks by its
    guest) and, during the stay, what else happened at its doors (a cleaner's code, a
    manual unlock, the lock going offline) — never another guest's unlocks."""
    starts, ends = reservation.window
    during_stay = (
        _reservation_device_ids(reservation)
        & Q(occurred_at__gte=starts, occurred_at__lt=ends)
        & Q(reservation__isnull=True)
    )
    events = list(
        LockEvent.objects.filter(Q(reservation_id=reservation.pk) | during_stay)
        .select_related("device", "reservation", "unmanaged_code")
        .order_by("-occurred_at", "-pk")[:limit]
    )
    zone = reservation.listing.property.zone
    for event in events:
        event.zone = zone
    return events


def unmanaged_codes_for_reservation(reservation) -> list[UnmanagedCode]:
    """Unmanaged codes on the stay's doors that work at some instant of the stay."""
    starts, ends = reservation.window
    codes = list(
        UnmanagedCode.objects.filter(_reservation_device_ids(reservation))
        .filter(Q(starts_at__isnull=True) | Q(starts_at__lt=ends))
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=starts))
        .select_related("device")
        .order_by("device__name", "name", "pk")
    )
    zone = reservation.listing.property.zone
    for code in codes:
        code.zone = zone
    return codes


# ---------------------------------------------------------------------- dashboard


def alerts_open(*, user) -> QuerySet[DeviceAlert]:
    """Locks offline, batteries low, codes that failed, unlocks while vacant: until
    resolved, acknowledged or not (the dashboard)."""
    return scope_queryset(
        DeviceAlert.objects.filter(resolved_at__isnull=True)
        .select_related("device", "listing", "reservation")
        .order_by("-opened_at", "-pk"),
        user,
    )
