"""Outgoing webhooks in the admin: the secret shown once, field errors, roles, isolation,
resend, rotation, and list pages whose query count does not grow with rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core import outbound
from hooks import services
from hooks.models import WebhookDelivery, WebhookEndpoint
from reservations import signals
from tests.hooks.factories import webhook_delivery

pytestmark = pytest.mark.django_db

ADD = reverse("admin:hooks_webhookendpoint_add")
PUBLIC = "https://93.184.215.14/keystay"


def add_form(org, **changes):
    return {
        "organization": org.organization.pk,
        "url": PUBLIC,
        "description": "Our PMS",
        "events": ["reservation.code_generated", "reservation.code_changed"],
        "include_codes": "on",
        "active": "on",
        **changes,
    }


def endpoint_of(org, url=PUBLIC):
    return services.endpoint_create(
        organization=org.organization, url=url, events=list(signals.EVENTS)
    )


def test_the_secret_is_shown_once_on_the_page_answering_the_creation(manager_client, org_a):
    response = manager_client.post(ADD, add_form(org_a))
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.created_by == org_a.manager
    assert endpoint.events == ["reservation.code_generated", "reservation.code_changed"]
    secret = endpoint.secret
    assert secret.startswith("whsec_")
    assert secret in response.content.decode()
    assert "no-cache" in response["Cache-Control"]
    # Never again: not on its page, not in the list, not in a message.
    change = manager_client.get(reverse("admin:hooks_webhookendpoint_change", args=[endpoint.pk]))
    listing = manager_client.get(reverse("admin:hooks_webhookendpoint_changelist"))
    for page in (change, listing):
        assert secret not in page.content.decode()
    assert f"whsec_…{secret[-4:]}" in change.content.decode()
    assert secret not in endpoint.secret_ciphertext


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"url": "not a url"}, "url", "full web address"),
        ({"url": "http://93.184.215.14/"}, "url", "https://"),
        ({"url": "https://127.0.0.1/"}, "url", "loopback"),
        ({"url": "https://10.0.0.8/"}, "url", "private"),
        ({"url": "https://169.254.169.254/latest"}, "url", "metadata"),
        ({"events": ["reservation.exploded"]}, "events", "not one of the available choices"),
        ({"events": []}, "events", "required"),
    ],
)
def test_a_bad_endpoint_is_refused_with_the_reason_on_its_field(
    manager_client, org_a, changes, field, words
):
    response = manager_client.post(ADD, add_form(org_a, **changes))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors, errors
    assert words in " ".join(errors[field])
    assert not WebhookEndpoint.objects.exists()


def test_a_private_receiver_is_accepted_where_the_deployment_allows_it(
    manager_client, org_a, settings
):
    settings.KEYSTAY_OUTBOUND_ALLOW_HTTP = True
    settings.KEYSTAY_OUTBOUND_ALLOW_PRIVATE = True
    response = manager_client.post(ADD, add_form(org_a, url="http://127.0.0.1:9000/hook"))
    assert response.status_code == 200
    assert WebhookEndpoint.objects.get().url == "http://127.0.0.1:9000/hook"


def test_an_unchanged_url_whose_dns_moved_does_not_stop_switching_the_endpoint_off(
    manager_client, org_a
):
    with outbound.resolver_override({"pms.example.com": ["93.184.215.14"]}):
        endpoint, _ = endpoint_of(org_a, "https://pms.example.com/hook")
    url = reverse("admin:hooks_webhookendpoint_change", args=[endpoint.pk])
    form = add_form(org_a, url="https://pms.example.com/hook")
    form.pop("active")
    with outbound.resolver_override({"pms.example.com": ["10.0.0.1"]}):
        response = manager_client.post(url, form)
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.active is False


def test_staff_see_endpoints_and_deliveries_but_change_and_resend_nothing(
    client, org_a, local_receivers_allowed
):
    delivery = webhook_delivery(org_a)
    client.force_login(org_a.staff)
    assert client.get(ADD).status_code == 403
    assert client.get(reverse("admin:hooks_webhookdelivery_changelist")).status_code == 200
    page = client.get(reverse("admin:hooks_webhookdelivery_change", args=[delivery.pk]))
    assert page.status_code == 200
    assert "Resend now" not in page.content.decode()
    resend = reverse("admin:hooks_webhookdelivery_resend", args=[delivery.pk])
    assert client.post(resend).status_code == 403
    rotate = reverse("admin:hooks_webhookendpoint_rotate", args=[delivery.endpoint_id])
    assert client.post(rotate).status_code == 403
    delivery.refresh_from_db()
    assert delivery.state == WebhookDelivery.State.FAILED


def test_another_organizations_deliveries_are_404_and_cannot_be_resent(
    manager_client, org_a, org_b
):
    theirs = webhook_delivery(org_b)
    for url in (
        reverse("admin:hooks_webhookdelivery_change", args=[theirs.pk]),
        reverse("admin:hooks_webhookendpoint_change", args=[theirs.endpoint_id]),
    ):
        assert manager_client.get(url).status_code == 404
    resend = reverse("admin:hooks_webhookdelivery_resend", args=[theirs.pk])
    assert manager_client.post(resend).status_code == 404
    rotate = reverse("admin:hooks_webhookendpoint_rotate", args=[theirs.endpoint_id])
    assert manager_client.post(rotate).status_code == 404
    # The list action ignores ids outside the person's organizations.
    manager_client.post(
        reverse("admin:hooks_webhookdelivery_changelist"),
        {"action": "resend_selected", "_selected_action": [theirs.pk]},
    )
    theirs.refresh_from_db()
    assert theirs.state == WebhookDelivery.State.FAILED
    ours = webhook_delivery(org_a)
    listing = manager_client.get(reverse("admin:hooks_webhookdelivery_changelist"))
    assert [d.pk for d in listing.context["cl"].result_list] == [ours.pk]
    endpoints = manager_client.get(reverse("admin:hooks_webhookendpoint_changelist"))
    assert [e.pk for e in endpoints.context["cl"].result_list] == [ours.endpoint_id]


def test_a_manager_resends_a_failed_delivery_from_its_page(
    manager_client, org_a, receiver, local_receivers_allowed, django_capture_on_commit_callbacks
):
    endpoint, secret = endpoint_of(org_a, f"{receiver.url}/hook")
    delivery = webhook_delivery(org_a, endpoint)
    page = manager_client.get(reverse("admin:hooks_webhookdelivery_change", args=[delivery.pk]))
    content = page.content.decode()
    assert "Resend now" in content
    assert "482913" not in content  # the body is shown with its codes hidden
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(
            reverse("admin:hooks_webhookdelivery_resend", args=[delivery.pk])
        )
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.state == WebhookDelivery.State.DELIVERED
    assert len(receiver.requests) == 1


def test_rotating_shows_the_new_secret_once(manager_client, org_a):
    endpoint, old = endpoint_of(org_a)
    url = reverse("admin:hooks_webhookendpoint_rotate", args=[endpoint.pk])
    assert "Make a new secret" in manager_client.get(url).content.decode()
    response = manager_client.post(url)
    endpoint.refresh_from_db()
    assert endpoint.secret != old
    assert endpoint.secret in response.content.decode()
    assert endpoint.previous_secret == old


@pytest.mark.parametrize("changelist", ["hooks_webhookendpoint", "hooks_webhookdelivery"])
def test_list_pages_cost_the_same_queries_with_5_rows_and_with_100(
    manager_client, org_a, changelist, django_assert_max_num_queries
):
    def grow(rows):
        for _ in range(rows):
            webhook_delivery(org_a)

    url = reverse(f"admin:{changelist}_changelist") + "?all="
    grow(5)
    with CaptureQueriesContext(connection) as captured:
        assert manager_client.get(url).status_code == 200
    grow(95)
    with django_assert_max_num_queries(len(captured.captured_queries)):
        response = manager_client.get(url)
    assert response.status_code == 200


def test_an_endpoint_cannot_be_registered_for_another_organization(manager_client, org_a, org_b):
    response = manager_client.post(ADD, add_form(org_a, organization=org_b.organization.pk))
    assert response.status_code == 200
    assert "organization" in response.context["adminform"].form.errors
    assert not WebhookEndpoint.objects.exists()
