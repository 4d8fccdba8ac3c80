"""Reads the dashboard, the reservation page and the API share."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from core.access import scope_queryset
from reservations.models import Reservation

from .models import CalendarFeed, FeedEvent


def feeds_for(user) -> QuerySet[CalendarFeed]:
    return scope_queryset(CalendarFeed.objects.all(), user).select_related("listing__property")


def feeds_in_trouble(*, user, limit: int = 200) -> list[CalendarFeed]:
    """Feeds failing or whose link is gone: what a person must look at."""
    return list(
        feeds_for(user)
        .filter(active=True)
        .filter(Q(failing=True) | Q(gone_since__isnull=False))
        .order_by("failing_since", "pk")[:limit]
    )


def feed_event_of(reservation: Reservation) -> FeedEvent | None:
    """The calendar event a stay came from (or was matched to), with its feed."""
    return (
        FeedEvent.objects.filter(reservation=reservation)
        .select_related("feed")
        .order_by("pk")
        .first()
    )
