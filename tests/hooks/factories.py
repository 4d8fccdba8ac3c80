"""Webhook endpoints and deliveries for tests that need one in an organization's cast."""

from __future__ import annotations

import itertools

from django.utils import timezone

from hooks import services
from hooks.models import WebhookDelivery, WebhookEndpoint
from reservations import signals

# A public address: registering it needs no DNS, and nothing is ever sent to it in tests
# (deliveries below are written as failed; nothing enqueues them).
PUBLIC_URL = "https://93.184.215.14/keystay"
_serial = itertools.count()


def webhook_endpoint(org, url: str = PUBLIC_URL, **fields) -> WebhookEndpoint:
    fields.setdefault("events", list(signals.EVENTS))
    endpoint, _ = services.endpoint_create(organization=org.organization, url=url, **fields)
    return endpoint


def webhook_delivery(org, endpoint: WebhookEndpoint | None = None, **fields) -> WebhookDelivery:
    """A failed delivery of a code event whose body holds a door code (482913)."""
    now = timezone.now()
    delivery = WebhookDelivery(
        organization=org.organization,
        endpoint=endpoint or webhook_endpoint(org),
        event=signals.CODE_GENERATED,
        event_id=f"evt_test_{next(_serial)}",
        occurred_at=now,
        reservation=org.reservation,
        state=WebhookDelivery.State.FAILED,
        attempts=8,
        retry_until=now,
        last_status_code=500,
        last_error="The receiver answered 500.",
        **fields,
    )
    delivery.payload = {
        "id": delivery.event_id,
        "type": delivery.event,
        "data": {"doors": [{"name": "Front Door", "code": "482913"}]},
    }
    delivery.save()
    return delivery
