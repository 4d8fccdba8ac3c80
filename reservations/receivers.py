"""What this app does when the apps below it report a change (their `signals` modules).

`properties` and `locks` never import this app; they send signals, and these receivers
(connected in `ReservationsConfig.ready`) re-plan codes and record what locks reported.
"""

from __future__ import annotations

from django.db import transaction

from .events import alerts_sync_from_devices
from .held_codes import stay_codes_among
from .models import LockEvent
from .planning import listings_replan, listings_replan_in_chunks
from .turnovers import listings_turnovers_replan


def replan_listings(sender, *, listing_ids, defer: bool = False, **kwargs) -> None:
    """A listing's rules or locks changed: its stays re-plan.

    Inside the caller's transaction by default, so the change and its plan commit
    together. A bulk change (the listing import) defers: the stays re-plan after the
    commit, a few at a time, each chunk its own short transaction, so that no write
    transaction holds the database for long.
    """
    if defer:
        ids = list(listing_ids)
        transaction.on_commit(lambda: listings_replan_in_chunks(listing_ids=ids))
        transaction.on_commit(lambda: _turnovers_replan(ids))
    else:
        listings_replan(listing_ids=listing_ids)
        listings_turnovers_replan(listing_ids=listing_ids)


def _turnovers_replan(listing_ids) -> None:
    with transaction.atomic():
        listings_turnovers_replan(listing_ids=listing_ids)


def alerts_from_devices(sender, *, connection, **kwargs) -> None:
    alerts_sync_from_devices(connection=connection)


def name_earlier_unlocks(sender, *, device, codes, **kwargs) -> None:
    """An unlock reported before its code was imported gets the code's name now."""
    for code in codes:
        LockEvent.objects.filter(
            device=device,
            access_code_id=code.provider_id,
            reservation__isnull=True,
            unmanaged_code__isnull=True,
        ).update(unmanaged_code=code, person_name=code.display_name)


def claim_stay_codes(sender, *, codes, **kwargs) -> dict[int, str]:
    """Before a code is marked or removed as a leftover: the ones that are a stay's."""
    return stay_codes_among(codes)
