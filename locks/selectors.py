"""Reads that pages, the dashboard and the API share."""

from django.conf import settings
from django.db.models import Q, QuerySet

from core.access import scope_queryset

from . import endpoints
from .models import ConnectedAccount, Device, LockAssignment, LockProviderConnection, UnmanagedCode


def codes_unsupported(prefix: str = "") -> Q:
    """`Device.codes_unsupported` as a condition on devices (through `prefix`): the
    demo's entrances. Nothing (and no query) unless the demo's fake server is named."""
    if not getattr(settings, "SEAM_FAKE_ENDPOINT", ""):
        return Q(**{f"{prefix}pk__in": []})
    demo = [
        pk
        for pk, endpoint in LockProviderConnection.objects.values_list("pk", "endpoint")
        if endpoints.is_demo_fake(endpoint)
    ]
    return Q(**{f"{prefix}kind": Device.Kind.ACS_ENTRANCE, f"{prefix}connection_id__in": demo})


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


def accounts_to_reconnect(*, user) -> list[ConnectedAccount]:
    """Provider accounts whose owner must sign in again (Seam asked for reauthorization, or
    the account was disconnected), in the person's organizations: until then their locks
    take no codes."""
    accounts = scope_queryset(
        ConnectedAccount.objects.filter(removed_at__isnull=True).select_related(
            "connection__organization"
        ),
        user,
    )
    return [account for account in accounts if account.needs_reconnect]
