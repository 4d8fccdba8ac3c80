"""Outgoing webhooks through the REST API: the secret in the creation answer only, field
errors, roles, isolation, resend, rotation, every method, constant query counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from core import outbound
from hooks.models import WebhookDelivery, WebhookEndpoint
from reservations import signals
from tests.api.conftest import key_client
from tests.hooks.factories import PUBLIC_URL, webhook_delivery, webhook_endpoint

pytestmark = pytest.mark.django_db

ENDPOINTS = "/api/v1/webhook-endpoints/"
DELIVERIES = "/api/v1/webhook-deliveries/"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def manager_api(org_a) -> APIClient:
    return key_client(org_a.organization, "manager")


@pytest.fixture
def staff_api(org_a) -> APIClient:
    return key_client(org_a.organization, "staff")


def test_the_secret_is_in_the_creation_answer_and_nowhere_after(manager_api, org_a):
    response = manager_api.post(
        ENDPOINTS,
        {"url": PUBLIC_URL, "events": ["reservation.code_generated"], "description": "PMS"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    endpoint = WebhookEndpoint.objects.get()
    assert body["secret"] == endpoint.secret
    assert body["organization"] == org_a.organization.pk  # the one organization managed
    assert body["masked_secret"] == f"whsec_…{endpoint.secret[-4:]}"
    assert body["events"] == ["reservation.code_generated"]
    for url in (ENDPOINTS, f"{ENDPOINTS}{endpoint.pk}/"):
        answer = manager_api.get(url)
        assert answer.status_code == 200
        assert endpoint.secret not in answer.content.decode()
    changed = manager_api.patch(f"{ENDPOINTS}{endpoint.pk}/", {"active": False}, format="json")
    assert changed.status_code == 200
    assert "secret" not in changed.json()
    assert changed.json()["active"] is False


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"url": "nonsense"}, "url", "full web address"),
        ({"url": "http://93.184.215.14/hook"}, "url", "https://"),
        ({"url": "https://127.0.0.1/hook"}, "url", "loopback"),
        ({"url": "https://192.168.0.10/hook"}, "url", "private"),
        ({"url": "https://[fe80::1]/hook"}, "url", "link-local"),
        ({"url": "https://nowhere.invalid/hook"}, "url", "cannot be resolved"),
        ({"events": ["reservation.teleported"]}, "events", "Unknown event(s): reservation."),
        ({"events": []}, "events", "may not be empty"),
    ],
)
def test_a_bad_endpoint_is_a_400_naming_the_field(manager_api, body, field, words):
    request = {"url": PUBLIC_URL, "events": ["reservation.code_generated"], **body}
    with outbound.resolver_override({}):
        response = manager_api.post(ENDPOINTS, request, format="json")
    assert response.status_code == 400
    assert words in " ".join(response.json()[field])
    assert not WebhookEndpoint.objects.exists()


def test_a_changed_url_is_checked_again_an_unchanged_one_is_not(manager_api, org_a):
    with outbound.resolver_override({"pms.example.com": ["93.184.215.14"]}):
        endpoint = webhook_endpoint(org_a, "https://pms.example.com/hook")
    url = f"{ENDPOINTS}{endpoint.pk}/"
    with outbound.resolver_override({"pms.example.com": ["10.0.0.1"]}):
        same = manager_api.patch(
            url, {"url": "https://pms.example.com/hook", "active": False}, format="json"
        )
        moved = manager_api.patch(url, {"url": "https://pms.example.com/other"}, format="json")
    assert same.status_code == 200
    assert moved.status_code == 400 and "private" in moved.json()["url"][0]


def test_staff_read_endpoints_and_deliveries_but_change_and_resend_nothing(staff_api, org_a):
    delivery = webhook_delivery(org_a)
    assert staff_api.get(ENDPOINTS).status_code == 200
    assert staff_api.get(DELIVERIES).json()["count"] == 1
    refused = [
        staff_api.post(ENDPOINTS, {"url": PUBLIC_URL, "events": ["reservation.arrived"]}),
        staff_api.patch(f"{ENDPOINTS}{delivery.endpoint_id}/", {"active": False}),
        staff_api.delete(f"{ENDPOINTS}{delivery.endpoint_id}/"),
        staff_api.post(f"{ENDPOINTS}{delivery.endpoint_id}/rotate-secret/"),
        staff_api.post(f"{DELIVERIES}{delivery.pk}/resend/"),
    ]
    assert [r.status_code for r in refused] == [403] * 5
    delivery.refresh_from_db()
    assert delivery.state == WebhookDelivery.State.FAILED


def test_another_organization_cannot_see_or_resend_deliveries(manager_api, org_a, org_b):
    theirs = webhook_delivery(org_b)
    ours = webhook_delivery(org_a)
    assert [d["id"] for d in manager_api.get(DELIVERIES).json()["results"]] == [ours.pk]
    assert [e["id"] for e in manager_api.get(ENDPOINTS).json()["results"]] == [ours.endpoint_id]
    answers = [
        manager_api.get(f"{DELIVERIES}{theirs.pk}/"),
        manager_api.post(f"{DELIVERIES}{theirs.pk}/resend/"),
        manager_api.get(f"{ENDPOINTS}{theirs.endpoint_id}/"),
        manager_api.patch(f"{ENDPOINTS}{theirs.endpoint_id}/", {"active": False}),
        manager_api.delete(f"{ENDPOINTS}{theirs.endpoint_id}/"),
        manager_api.post(f"{ENDPOINTS}{theirs.endpoint_id}/rotate-secret/"),
        manager_api.get(DELIVERIES, {"endpoint": theirs.endpoint_id}),
    ]
    assert [a.status_code for a in answers] == [404] * 6 + [200]
    assert answers[-1].json()["results"] == []
    theirs.refresh_from_db()
    assert theirs.state == WebhookDelivery.State.FAILED
    assert WebhookEndpoint.objects.get(pk=theirs.endpoint_id).active


def test_a_delivery_shows_its_record_with_codes_hidden_and_a_resend_sends_it_again(
    manager_api,
    org_a,
    receiver,
    local_receivers_allowed,
    django_capture_on_commit_callbacks,
):
    endpoint = webhook_endpoint(org_a, f"{receiver.url}/hook")
    delivery = webhook_delivery(org_a, endpoint)
    shown = manager_api.get(f"{DELIVERIES}{delivery.pk}/").json()
    assert shown["state"] == "failed"
    assert shown["attempts"] == 8
    assert shown["last_status_code"] == 500
    assert shown["payload"]["data"]["doors"][0]["code"] == "••••"
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_api.post(f"{DELIVERIES}{delivery.pk}/resend/")
    assert response.status_code == 200
    assert response.json()["state"] == "pending"  # as answered; sent right after
    delivery.refresh_from_db()
    assert delivery.state == WebhookDelivery.State.DELIVERED
    assert delivery.attempts == 9
    (received,) = receiver.requests
    assert b"482913" in received.body  # the receiver gets the codes


def test_rotating_answers_the_new_secret_once(manager_api, org_a):
    endpoint = webhook_endpoint(org_a)
    old = endpoint.secret
    response = manager_api.post(f"{ENDPOINTS}{endpoint.pk}/rotate-secret/")
    assert response.status_code == 200
    endpoint.refresh_from_db()
    assert response.json()["secret"] == endpoint.secret != old
    assert response.json()["previous_secret_valid_until"]


def test_every_method_on_every_webhook_path(manager_api, org_a):
    delivery = webhook_delivery(org_a)
    endpoint = f"{ENDPOINTS}{delivery.endpoint_id}/"
    one = f"{DELIVERIES}{delivery.pk}/"
    expected = {
        ENDPOINTS: {"get": 200, "head": 200, "options": 200, "post": 400, "put": 405,
                    "patch": 405, "delete": 405},
        endpoint: {"get": 200, "head": 200, "options": 200, "post": 405, "put": 400,
                   "patch": 200, "delete": 204},
        f"{endpoint}rotate-secret/": {"get": 405, "head": 405, "options": 200, "post": 200,
                                      "put": 405, "patch": 405, "delete": 405},
        DELIVERIES: {"get": 200, "head": 200, "options": 200, "post": 405, "put": 405,
                     "patch": 405, "delete": 405},
        one: {"get": 200, "head": 200, "options": 200, "post": 405, "put": 405,
              "patch": 405, "delete": 405},
        f"{one}resend/": {"get": 405, "head": 405, "options": 200, "post": 200, "put": 405,
                          "patch": 405, "delete": 405},
    }  # fmt: skip
    got = {}
    # The endpoint's deletion last: its deliveries go with it.
    for url, methods in sorted(expected.items(), key=lambda item: item[0] == endpoint):
        got[url] = {}
        for method in methods:
            kwargs = {"data": {}, "format": "json"} if method in ("post", "put", "patch") else {}
            if url == one + "resend/" or url == endpoint + "rotate-secret/":
                kwargs = {}
            got[url][method] = getattr(manager_api, method)(url, **kwargs).status_code
    assert got == expected
    options = manager_api.options(ENDPOINTS).json()
    assert {"url", "events", "include_codes"} <= set(options["actions"]["POST"])


def test_lists_read_in_a_fixed_number_of_queries(
    manager_api, org_a, django_assert_max_num_queries
):
    def grow(rows):
        for _ in range(rows):
            webhook_delivery(org_a)

    grow(5)
    counts = {}
    for url in (ENDPOINTS, DELIVERIES):
        with CaptureQueriesContext(connection) as captured:
            assert manager_api.get(url, {"page_size": 500}).status_code == 200
        counts[url] = len(captured.captured_queries)
    grow(95)
    for url in (ENDPOINTS, DELIVERIES):
        with django_assert_max_num_queries(counts[url]):
            response = manager_api.get(url, {"page_size": 500})
        assert response.json()["count"] == 100


def test_the_schema_documents_the_webhook_paths(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for path in (
        "/api/v1/webhook-endpoints/",
        "/api/v1/webhook-endpoints/{id}/",
        "/api/v1/webhook-endpoints/{id}/rotate-secret/",
        "/api/v1/webhook-deliveries/",
        "/api/v1/webhook-deliveries/{id}/",
        "/api/v1/webhook-deliveries/{id}/resend/",
    ):
        assert path in schema["paths"]
    created = schema["paths"]["/api/v1/webhook-endpoints/"]["post"]["responses"]["201"]
    reference = created["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert "secret" in schema["components"]["schemas"][reference]["properties"]
    assert signals.CODE_GENERATED in str(schema["paths"]["/api/v1/webhook-deliveries/"])


def test_an_endpoint_cannot_be_registered_for_another_organization(manager_api, org_b):
    response = manager_api.post(
        ENDPOINTS,
        {
            "url": PUBLIC_URL,
            "events": ["reservation.arrived"],
            "organization": org_b.organization.pk,
        },
        format="json",
    )
    assert response.status_code == 400
    assert "organization" in response.json()
    assert not WebhookEndpoint.objects.exists()
