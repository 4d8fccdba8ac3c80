"""A manager sends an outgoing webhook endpoint a test event from its page and sees what
the endpoint answered; the request goes through the outbound guard like every delivery."""

import json
import re

import pytest
from django.urls import reverse

from hooks import services, signing
from hooks.models import WebhookDelivery
from reservations import signals
from tests.hooks.factories import PUBLIC_URL

pytestmark = pytest.mark.django_db


def _endpoint(org, url):
    return services.endpoint_create(
        organization=org.organization, url=url, events=list(signals.EVENTS)
    )


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_test_event_is_signed_and_the_answer_shown(
    manager_client, org_a, receiver, local_receivers_allowed
):
    endpoint, secret = _endpoint(org_a, f"{receiver.url}/hooks")
    page = manager_client.get(reverse("admin:hooks_webhookendpoint_change", args=[endpoint.pk]))
    test_url = reverse("admin:hooks_webhookendpoint_test", args=[endpoint.pk])
    assert f'formaction="{test_url}"' in page.content.decode()

    receiver.answer(418, b'{"error": "not today"}')
    shown = _text(manager_client.post(test_url).content.decode())
    assert "Answer 418" in shown
    assert "The receiver answered 418." in shown
    assert '"error": "not today"' in shown.replace("&quot;", '"')

    [request] = receiver.requests
    assert request.path == "/hooks"
    body = json.loads(request.body)
    assert body["type"] == "endpoint.test" and body["organization"] == org_a.organization.pk
    assert signing.verify(secret, request.headers["Keystay-Signature"], request.body)
    assert not WebhookDelivery.objects.exists()  # nothing recorded, nothing retried

    shown = _text(manager_client.post(test_url).content.decode())
    assert "Answer 200 — the endpoint took the event." in shown


def test_the_outbound_guard_refuses_a_private_address(manager_client, org_a, receiver, settings):
    settings.KEYSTAY_OUTBOUND_ALLOW_HTTP = True
    settings.KEYSTAY_OUTBOUND_ALLOW_PRIVATE = True
    endpoint, _ = _endpoint(org_a, f"{receiver.url}/hooks")
    settings.KEYSTAY_OUTBOUND_ALLOW_PRIVATE = False  # the deployment no longer allows it
    test_url = reverse("admin:hooks_webhookendpoint_test", args=[endpoint.pk])
    shown = _text(manager_client.post(test_url).content.decode())
    assert "Answer none" in shown and "Not sent:" in shown
    assert receiver.requests == []


def test_staff_and_strangers_cannot_send_test_events(staff_client, org_a, org_b, client):
    endpoint, _ = _endpoint(org_a, PUBLIC_URL)
    test_url = reverse("admin:hooks_webhookendpoint_test", args=[endpoint.pk])
    assert staff_client.post(test_url).status_code == 403
    client.force_login(org_b.manager)
    assert client.post(test_url).status_code == 404
    assert client.get(test_url).status_code in (404, 405)
