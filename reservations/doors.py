"""What the guest is told: each door the stay opens, with the code that opens it.

A stay has one code, but a door may hold another: an override gives it its own, a lock
that picks its own codes chose one, a repair put another on it. Everything that shows or
sends codes (the reservation page, guest messages, the guest page, the API) lists doors
from here, so the guest is never told a code their door does not take.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.utils import timezone

from .models import LockAccess, Reservation, ReservationCode


@dataclass(frozen=True)
class GuestDoor:
    access_id: int
    name: str
    # Empty while a lock that picks its own codes has not picked one yet.
    code: str
    # The door's code is not the stay's code: say so wherever codes are shown.
    own_code: bool
    state: str
    starts_at: datetime.datetime
    ends_at: datetime.datetime


def stay_code(reservation: Reservation) -> ReservationCode | None:
    try:
        return reservation.code
    except ReservationCode.DoesNotExist:
        return None


def guest_doors(reservation: Reservation, now=None) -> list[GuestDoor]:
    """The doors whose code is (or will be) on the lock for this stay, by name.

    Reads `lock_accesses` (with their devices and assignments) and `code`: prefetch them
    for many stays.
    """
    code = stay_code(reservation)
    stay_value = code.value if code is not None else ""
    doors = []
    for access in reservation.lock_accesses.all():
        if not access.wanted or access.state in LockAccess.FINAL_STATES:
            continue
        door_code = access.door_code
        doors.append(
            GuestDoor(
                access_id=access.pk,
                name=access.door_name,
                code=door_code,
                own_code=bool(door_code) and door_code != stay_value,
                state=access.current_state(now),
                starts_at=access.starts_at,
                ends_at=access.ends_at,
            )
        )
    return sorted(doors, key=lambda door: door.name.casefold())


def send_problem(reservation: Reservation, now=None) -> str | None:
    """Why the guest cannot be sent a code for this stay (None when they can)."""
    now = now or timezone.now()
    Status = Reservation.Status
    if reservation.status == Status.PENDING:
        return "No code yet: the reservation is not confirmed."
    if reservation.status == Status.CANCELLED:
        return "The reservation is cancelled: its code no longer opens any door."
    if not reservation.is_live or now >= reservation.check_out:
        return "The stay is over: its code no longer opens any door."
    if stay_code(reservation) is None:
        return "No code yet: it is generated when the reservation is confirmed."
    if not guest_doors(reservation, now):
        return (
            "No door at this listing takes guest codes: give a lock guest access "
            "before sending the code."
        )
    return None
