"""Reads the connection page shares."""

from __future__ import annotations

from django.db.models import Count, Q
from django.urls import reverse

from core.public_url import absolute_url

from .models import PmsConnection, PmsDelivery


def webhook_url(connection: PmsConnection, *, request=None) -> str:
    """The URL to paste into the PMS: on KEYSTAY_PUBLIC_URL when set, else on the address
    the manager's browser used."""
    return absolute_url(reverse("pms_webhook", args=[connection.public_id]), request=request)


def delivery_counts(connection: PmsConnection) -> dict[str, int]:
    statuses = PmsDelivery.Status
    aggregates = {status: Count("pk", filter=Q(status=status)) for status in statuses.values}
    aggregates["attention"] = Count("pk", filter=Q(needs_attention=True))
    return PmsDelivery.objects.filter(connection=connection).aggregate(**aggregates)
