"""What the guest page shows at an instant: the doors and their codes only from
confirmation until check-out, and otherwise a sentence saying why there is none.

The page reads the stay's state at the moment it is opened (never a stored flag), so a
link opened a minute after check-out or after a cancellation shows no code, whatever was
sent before.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Prefetch, prefetch_related_objects
from django.utils import timezone

from reservations.doors import guest_doors, stay_code
from reservations.models import LockAccess, Reservation


class State:
    PENDING = "pending"  # not confirmed yet: no code exists
    OPEN = "open"  # confirmed and before check-out: the doors with their codes
    PREPARING = "preparing"  # confirmed, but the code is not generated yet
    NO_DOORS = "no_doors"  # confirmed, but no door of the listing takes guest codes
    CANCELLED = "cancelled"
    ENDED = "ended"  # checked out, ended early by staff, or past check-out


# The states in which the page lists codes.
SHOWS_CODES = frozenset({State.OPEN})


@dataclass(frozen=True)
class PageDoor:
    name: str
    # Empty while a lock that picks its own codes has not picked one.
    code: str
    own_code: bool
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    # When an empty code should appear: the instant the code goes on the lock, when that is
    # still ahead (None once it has passed: the lock is picking it now).
    appears_at: datetime.datetime | None


@dataclass(frozen=True)
class GuestPage:
    state: str
    reservation: Reservation
    zone_name: str
    doors: tuple[PageDoor, ...] = ()

    @property
    def shows_codes(self) -> bool:
        return self.state in SHOWS_CODES


def load(reservation: Reservation) -> Reservation:
    """Read what the page needs in a fixed number of queries."""
    prefetch_related_objects(
        [reservation],
        Prefetch(
            "lock_accesses", queryset=LockAccess.objects.select_related("device", "assignment")
        ),
    )
    stay_code(reservation)  # the stay's code, read once
    return reservation


def state_of(reservation: Reservation, now: datetime.datetime) -> str:
    Status = Reservation.Status
    if reservation.status == Status.CANCELLED:
        return State.CANCELLED
    if (
        reservation.status == Status.CHECKED_OUT
        or reservation.ended_at is not None
        or now >= reservation.check_out
    ):
        return State.ENDED
    if reservation.status != Status.CONFIRMED:
        return State.PENDING
    if stay_code(reservation) is None:
        return State.PREPARING
    return State.OPEN


def guest_page_for(reservation: Reservation, now: datetime.datetime | None = None) -> GuestPage:
    now = now or timezone.now()
    zone_name = reservation.listing.property.time_zone
    state = state_of(reservation, now)
    if state != State.OPEN:
        return GuestPage(state=state, reservation=reservation, zone_name=zone_name)
    program_at = {access.pk: access.program_at for access in reservation.lock_accesses.all()}
    doors = tuple(
        PageDoor(
            name=door.name,
            code=door.code,
            own_code=door.own_code,
            starts_at=door.starts_at,
            ends_at=door.ends_at,
            appears_at=(
                program_at[door.access_id]
                if not door.code and program_at[door.access_id] > now
                else None
            ),
        )
        for door in guest_doors(reservation, now)
    )
    if not doors:
        return GuestPage(state=State.NO_DOORS, reservation=reservation, zone_name=zone_name)
    return GuestPage(state=state, reservation=reservation, zone_name=zone_name, doors=doors)
