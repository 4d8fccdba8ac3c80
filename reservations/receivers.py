"""Stays re-plan when their listing's locks change elsewhere (locks never imports us)."""

from django.db import transaction
from django.utils import timezone

from . import services

# Stays re-planned per transaction after a bulk change: each chunk holds the write lock
# (SQLite: the whole database) for a moment only, so other writers never wait long.
REPLAN_CHUNK = 50


def replan_listings(sender, listing_ids, defer=False, **kwargs) -> None:
    listing_ids = list(listing_ids)
    if not listing_ids:
        return
    if not defer:
        services.listings_replan(listing_ids=listing_ids)
        return
    transaction.on_commit(lambda: replan_in_chunks(listing_ids=listing_ids))


def replan_in_chunks(*, listing_ids: list[int], chunk: int = REPLAN_CHUNK) -> int:
    """Re-plan the listings' stays, `chunk` stays per short transaction; returns the count."""
    now = timezone.now()
    reservation_ids = list(
        services.stays_to_replan(listing_ids=listing_ids, now=now).values_list("pk", flat=True)
    )
    for start in range(0, len(reservation_ids), chunk):
        with transaction.atomic():
            for reservation in services.Reservation.objects.filter(
                pk__in=reservation_ids[start : start + chunk]
            ).order_by("pk"):
                services.reservation_replan(reservation=reservation, now=now)
    return len(reservation_ids)
