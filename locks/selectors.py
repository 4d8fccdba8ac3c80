"""Reads that pages, the dashboard and the API share."""

from django.db.models import QuerySet

from core.access import scope_queryset

from .models import LockAssignment, UnmanagedCode


def assignments_flagged(*, user) -> QuerySet[LockAssignment]:
    """Assignments whose device disappeared at the provider: a door that may not open."""
    return scope_queryset(
        LockAssignment.objects.filter(device__removed_at__isnull=False).select_related(
            "device", "listing__property"
        ),
        user,
    )


def unmanaged_codes_for_listing(listing) -> list[UnmanagedCode]:
    """Every unmanaged code on the listing's doors."""
    codes = list(
        UnmanagedCode.objects.filter(
            device_id__in=LockAssignment.objects.filter(listing_id=listing.pk).values("device_id")
        )
        .select_related("device")
        .order_by("device__name", "name", "pk")
    )
    zone = listing.property.zone
    for code in codes:
        code.zone = zone
    return codes
