"""Reads that pages, the dashboard and the API share."""

from django.db.models import QuerySet

from core.access import scope_queryset

from .models import LockAssignment


def assignments_flagged(*, user) -> QuerySet[LockAssignment]:
    """Assignments whose device disappeared at the provider: a door that may not open."""
    return scope_queryset(
        LockAssignment.objects.filter(device__removed_at__isnull=False).select_related(
            "device", "listing__property"
        ),
        user,
    )
