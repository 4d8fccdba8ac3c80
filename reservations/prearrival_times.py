"""When a stay's pre-arrival checks are due: plain arithmetic on its check-in instant.

Kept apart from `prearrival` (which talks to the provider) so that planning can keep the
next check in step with the stay's dates without importing the checks themselves.
"""

from __future__ import annotations

import datetime

from .models import Reservation

# A check put off (a code too fresh at the provider to judge) comes back this much later.
PREARRIVAL_RECHECK = datetime.timedelta(minutes=15)


def prearrival_instants(reservation: Reservation) -> list[datetime.datetime]:
    """Every pre-arrival check of the stay, earliest first.

    "24 hours before" is 24 elapsed hours before the check-in instant: check-in is aware,
    so a daylight-saving change in the property's zone is already in it.
    """
    return sorted(
        reservation.check_in - datetime.timedelta(hours=hours)
        for hours in reservation.listing.prearrival_hours
    )


def prearrival_next(
    *, reservation: Reservation, after: datetime.datetime, inclusive: bool = False
) -> datetime.datetime | None:
    """The first check after `after` (or at it, when inclusive); None when none is left."""
    for instant in prearrival_instants(reservation):
        if instant > after or (inclusive and instant == after):
            return instant
    return None


def prearrival_schedule_for(
    *, reservation: Reservation, stored: datetime.datetime | None, now: datetime.datetime
) -> datetime.datetime | None:
    """The next check of a stay as planning sees it.

    A stored check that belongs to this check-in (no earlier than its first check, before
    check-in) and is due or only put off for a recheck is kept: re-planning for anything
    else must not skip it. Anything else (new dates, other check hours) is computed anew.
    """
    if not reservation.is_live:
        return None
    instants = prearrival_instants(reservation)
    if (
        stored is not None
        and instants
        and instants[0] <= stored < reservation.check_in
        and stored <= now + PREARRIVAL_RECHECK
    ):
        return stored
    return prearrival_next(reservation=reservation, after=now, inclusive=True)
