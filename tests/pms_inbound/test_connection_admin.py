"""The connection page: secrets typed in or made once, never rendered back; members of the
organization only; the deliveries and their reasons shown."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pms_inbound.models import PmsConnection

from .factories import pms_delivery

pytestmark = pytest.mark.django_db
ADD = "/admin/pms_inbound/pmsconnection/add/"


def add_form(org, **fields):
    return {
        "organization": org.organization.pk,
        "kind": "hostaway",
        "name": "Hostaway",
        "webhook_login": "keystay",
        "webhook_secret": "",
        "api_client_id": "",
        "api_client_secret": "",
        "active": "on",
        "deliveries-TOTAL_FORMS": "0",
        "deliveries-INITIAL_FORMS": "0",
        "_save": "Save",
        **fields,
    }


def test_a_hostaway_password_is_made_shown_once_and_never_again(client, org_a):
    client.force_login(org_a.manager)
    response = client.post(ADD, add_form(org_a))
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    connection = PmsConnection.objects.get()
    password = connection.webhook_secret
    assert len(password) >= 24 and password in response.content.decode()
    assert password not in connection.webhook_secret_ciphertext  # encrypted at rest
    page = client.get(reverse("admin:pms_inbound_pmsconnection_change", args=[connection.pk]))
    content = page.content.decode()
    assert password not in content
    assert f"••••{password[-4:]}" in content
    # The full URL to paste, on the address the manager's browser used.
    assert f"http://testserver/webhooks/pms/{connection.public_id}/" in content


def test_a_guesty_connection_needs_its_signing_secret(client, org_a):
    client.force_login(org_a.manager)
    response = client.post(ADD, add_form(org_a, kind="guesty", name="Guesty"))
    assert response.status_code == 200
    assert "Paste the signing secret" in response.content.decode()
    assert not PmsConnection.objects.exists()


def test_an_empty_secret_on_change_keeps_the_stored_one(client, org_a):
    client.force_login(org_a.manager)
    client.post(ADD, add_form(org_a, webhook_secret="first-password-1234"))
    connection = PmsConnection.objects.get()
    url = reverse("admin:pms_inbound_pmsconnection_change", args=[connection.pk])
    form = add_form(org_a, name="Hostaway Lisbon")
    form.pop("organization")
    form.pop("kind")
    assert client.post(url, form).status_code == 302
    connection.refresh_from_db()
    assert connection.name == "Hostaway Lisbon"
    assert connection.webhook_secret == "first-password-1234"


def test_a_manager_cannot_add_a_connection_to_another_organization(client, org_a, org_b):
    client.force_login(org_a.manager)
    response = client.post(ADD, add_form(org_b))
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not PmsConnection.objects.exists()


def test_staff_see_the_deliveries_but_no_secret_field(client, org_a):
    delivery = pms_delivery(org_a)
    client.force_login(org_a.staff)
    url = reverse("admin:pms_inbound_pmsconnection_change", args=[delivery.connection.pk])
    content = client.get(url).content.decode()
    assert "needs attention" in content and "unknown-listing" in content
    assert 'name="webhook_secret"' not in content
    assert delivery.connection.webhook_secret not in content


def test_a_stranger_sees_no_delivery_of_another_organization(client, org_a, org_b):
    pms_delivery(org_b)
    client.force_login(org_a.manager)
    listing = client.get(reverse("admin:pms_inbound_pmsdelivery_changelist"))
    assert listing.status_code == 200
    assert "unknown-listing" not in listing.content.decode()


def test_the_webhook_takes_only_posts(client, org_a):
    connection = pms_delivery(org_a).connection
    url = reverse("pms_webhook", args=[connection.public_id])
    for method in ("get", "put", "patch", "delete"):
        assert getattr(client, method)(url).status_code == 405


def _queries_for(client, url) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_lists_cost_the_same_queries_with_few_and_many_deliveries(client, org_a):
    client.force_login(org_a.manager)
    for _ in range(3):
        pms_delivery(org_a)
    deliveries = reverse("admin:pms_inbound_pmsdelivery_changelist")
    connections = reverse("admin:pms_inbound_pmsconnection_changelist")
    few = (_queries_for(client, deliveries), _queries_for(client, connections))
    for _ in range(40):
        pms_delivery(org_a)
    assert (_queries_for(client, deliveries), _queries_for(client, connections)) == few
