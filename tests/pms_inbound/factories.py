"""One PMS connection and one delivery of an organization's cast (admin page tests)."""

from __future__ import annotations

from django.utils import timezone

from pms_inbound.models import PmsConnection, PmsDelivery
from pms_inbound.services import connection_create


def pms_connection(org) -> PmsConnection:
    existing = PmsConnection.objects.filter(organization=org.organization).first()
    if existing is not None:
        return existing
    connection, _ = connection_create(
        organization=org.organization,
        kind=PmsConnection.Kind.GUESTY,
        name="Guesty",
        webhook_secret="whsec_dGVzdHMtb25seS1ndWVzdHktc2VjcmV0LTMyYnl0ZXM=",
    )
    return connection


def pms_delivery(org) -> PmsDelivery:
    connection = pms_connection(org)
    now = timezone.now()
    return PmsDelivery.objects.create(
        organization=org.organization,
        connection=connection,
        delivery_key=f"svix:msg_{org.organization.pk}_{PmsDelivery.objects.count()}",
        event="reservation.created.v2",
        external_id="59d11425af06e3100095e9fe",
        listing_external_id="unknown-listing",
        status=PmsDelivery.Status.FAILED,
        reason="No listing of this organization has the external id 'unknown-listing'.",
        needs_attention=True,
        body={"event": "reservation.created.v2", "reservation": {}},
        received_at=now,
        processed_at=now,
    )
