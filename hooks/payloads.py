"""The body of each event sent to a webhook endpoint, built when the event happens.

The body is what was true at the event: a retry or a resend sends the same body (same
event id), so a receiver can tell a repeat from news. A later change is a later event.

Door codes: the code events (`reservation.code_generated`, `reservation.code_changed`)
carry each door with the code that opens it, because a PMS that messages guests needs
exactly that; an endpoint registered without `include_codes` gets the doors without their
codes. `reservation.code_revoked` lists no codes (they no longer open anything), and the
lock events name their one door and its state, not its code.
"""

from __future__ import annotations

import datetime
import uuid
import zoneinfo

from django.db.models import Prefetch

from reservations import signals
from reservations.doors import guest_doors
from reservations.models import LockAccess, Reservation

CODE_EVENTS = frozenset({signals.CODE_GENERATED, signals.CODE_CHANGED})
LOCK_EVENTS = frozenset({signals.LOCK_CONFIRMED, signals.LOCK_FAILED})


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


def _iso(value: datetime.datetime | None, zone: zoneinfo.ZoneInfo | None = None) -> str | None:
    if value is None:
        return None
    return (value.astimezone(zone) if zone else value).isoformat()


def load_reservation(reservation_id: int) -> Reservation | None:
    """The stay with everything a body reads, in a fixed number of queries."""
    return (
        Reservation.objects.select_related("listing__property", "code")
        .prefetch_related(
            Prefetch(
                "lock_accesses",
                LockAccess.objects.select_related("device", "assignment").order_by("pk"),
            )
        )
        .filter(pk=reservation_id)
        .first()
    )


def reservation_part(reservation: Reservation) -> dict:
    listing = reservation.listing
    zone = zoneinfo.ZoneInfo(listing.property.time_zone)
    return {
        "id": reservation.pk,
        "external_id": reservation.external_id,
        "status": reservation.status,
        "guest_name": reservation.guest_name,
        # In the property's local time, with its offset: the instant and the wall clock.
        "check_in": _iso(reservation.check_in, zone),
        "check_out": _iso(reservation.check_out, zone),
        "time_zone": listing.property.time_zone,
        "arrived_at": _iso(reservation.arrived_at, zone),
        "listing": {"id": listing.pk, "external_id": listing.external_id, "name": listing.name},
    }


def doors_part(reservation: Reservation, *, at: datetime.datetime) -> list[dict]:
    """Each door the stay opens, with its code (filtered per endpoint by `without_codes`)."""
    return [
        {
            "lock_access_id": door.access_id,
            "name": door.name,
            "code": door.code or None,  # None: a lock that picks its own has not yet
            "own_code": door.own_code,
            "starts_at": _iso(door.starts_at),
            "ends_at": _iso(door.ends_at),
        }
        for door in guest_doors(reservation, at)
    ]


def lock_access_part(access: LockAccess) -> dict:
    return {
        "id": access.pk,
        "door": access.door_name,
        "state": access.state,
        "confirmed_at": _iso(access.confirmed_at),
        "error": access.last_error or None,
    }


def build(
    *,
    event: str,
    event_id: str,
    reservation: Reservation,
    lock_access_id: int | None,
    at: datetime.datetime,
) -> dict:
    """The body of `event` for `reservation`, with codes (see `without_codes`)."""
    data: dict = {"reservation": reservation_part(reservation)}
    if event in CODE_EVENTS:
        # Per door only: a door may hold another code than the stay's (an override, a
        # lock that picks its own), and the guest must be told the one that opens it.
        data["doors"] = doors_part(reservation, at=at)
    if event in LOCK_EVENTS and lock_access_id is not None:
        access = next((a for a in reservation.lock_accesses.all() if a.pk == lock_access_id), None)
        data["lock_access"] = lock_access_part(access) if access is not None else None
    return {
        "id": event_id,
        "type": event,
        "occurred_at": _iso(at),
        "organization": reservation.organization_id,
        "data": data,
    }


def without_codes(payload: dict) -> dict:
    """The same body with every door code left out (`include_codes` off)."""
    data = dict(payload.get("data", {}))
    if "doors" in data:
        data["doors"] = [{**door, "code": None} for door in data["doors"]]
    return {**payload, "data": data}


def carries_codes(payload: dict) -> bool:
    """Whether the body hands over at least one door code (a code event to an endpoint
    with `include_codes`, once a code is known)."""
    if payload.get("type") not in CODE_EVENTS:
        return False
    return any(door.get("code") for door in payload.get("data", {}).get("doors") or [])


def masked(payload: dict) -> dict:
    """The body as pages show it: codes replaced by dots (the receiver got them)."""
    data = dict(payload.get("data", {}))
    if "doors" in data:
        data["doors"] = [
            {**door, "code": "••••" if door.get("code") else door.get("code")}
            for door in data["doors"]
        ]
    return {**payload, "data": data}
