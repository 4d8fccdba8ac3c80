"""Every API path, every HTTP method, every kind of caller and id: never a 5xx.

The schema fuzz (test_schema_fuzz.py) only sends what the OpenAPI schema documents: no
OPTIONS or HEAD, no method a path does not offer, no id that is not a number. This walks
the URL resolver instead, so that a path added later is covered without being listed.
"""

from __future__ import annotations

import itertools
import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from hooks.models import WebhookDelivery, WebhookEndpoint
from locks.gateway import ProviderError, SeamGateway
from reservations.models import AccessOverride, DeviceAlert, Reservation
from tests.api.conftest import key_client
from tests.hooks.factories import webhook_delivery

pytestmark = pytest.mark.django_db

METHODS = ["get", "head", "options", "post", "put", "patch", "delete"]  # delete last
HUGE = "99999999999999999999"  # past 64 bits
REFERENCES = ["organization", "property", "listing", "device", "reservation", "assignment"]


def api_routes() -> list[str]:
    """Every route under /api/, as its regex (or path converter) source."""

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern)

    return [route for route in walk(get_resolver().url_patterns) if route.startswith("api/")]


def concrete(route: str, *, pk: str, external_id: str) -> str:
    path = route.replace("^", "").replace("/?$", "/").replace("$", "")
    path = re.sub(r"\\\.\(\?P<format>[^)]*\)", ".json", path)
    path = path.replace("<drf_format_suffix:format>", ".json")
    path = re.sub(r"\(\?P<pk>[^)]*\)", pk, path)
    path = re.sub(r"\(\?P<external_id>[^)]*\)", external_id, path)
    assert "(" not in path and "<" not in path, f"a route this test cannot fill: {route}"
    return "/" + path


def resource_ids(route: str, org_a, org_b) -> list[str]:
    """The caller's own object, another organization's, a huge id and a non-numeric one."""
    own = {
        "connections": (org_a.device.connection, org_b.device.connection),
        "devices": (org_a.device, org_b.device),
        "properties": (org_a.property, org_b.property),
        "listings": (org_a.listing, org_b.listing),
        "assignments": (org_a.assignment, org_b.assignment),
        "reservations": (org_a.reservation, org_b.reservation),
        "overrides": tuple(
            AccessOverride.objects.filter(reservation=org.reservation).first()
            for org in (org_a, org_b)
        ),
        "events": (None, None),
        "alerts": tuple(
            DeviceAlert.objects.filter(device=org.device).first() for org in (org_a, org_b)
        ),
        "webhook-endpoints": tuple(
            WebhookEndpoint.objects.filter(organization=org.organization).first()
            for org in (org_a, org_b)
        ),
        "webhook-deliveries": tuple(
            WebhookDelivery.objects.filter(organization=org.organization).first()
            for org in (org_a, org_b)
        ),
    }
    match = re.search(r"\^([\w-]+)", route)
    mine, theirs = own.get(match.group(1) if match else "", (None, None))
    return [str(o.pk) for o in (mine, theirs) if o is not None] + [HUGE, "abc"]


@pytest.fixture
def offline(monkeypatch):
    """No request leaves the machine: Seam refuses every key."""

    def refused(self, **kwargs):
        raise ProviderError("unauthorized", "Seam refused the API key.")

    monkeypatch.setattr(SeamGateway, "__init__", refused)


def test_every_path_and_method_answers_without_a_server_error(org_a, org_b, offline, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "1000000/minute"},
    }
    for org in (org_a, org_b):
        AccessOverride.objects.create(
            reservation=org.reservation, assignment=org.assignment, lead_time_minutes=60
        )
        Reservation.objects.filter(pk=org.reservation.pk).update(external_id="EXT-1")
        org.listing.external_id = "LST-1"
        org.listing.save()
        DeviceAlert.objects.create(
            organization_id=org.device.organization_id,
            device=org.device,
            kind=DeviceAlert.Kind.OFFLINE,
            opened_at=timezone.now(),
        )
        webhook_delivery(org)
    callers = {
        "anonymous": APIClient(),
        "staff": key_client(org_a.organization, "staff"),
        "manager": key_client(org_a.organization, "manager"),
    }
    for client in callers.values():
        client.raise_request_exception = False  # a server error is an answer to collect
    bodies = [{}, {name: int(HUGE) for name in REFERENCES}]
    routes = api_routes()
    assert len(routes) > 40
    failures = []
    for method in METHODS:
        for route in routes:
            ids = resource_ids(route, org_a, org_b) if "<pk>" in route else ["-"]
            if "<format>" in route and "<pk>" in route:
                ids = ids[:1]  # the format suffix is the same view: one id is enough
            external_ids = (
                ["EXT-1", "LST-1", "nope", "x" * 300] if "external_id" in route else ["-"]
            )
            for pk in ids:
                for external_id in external_ids:
                    url = concrete(route, pk=pk, external_id=external_id)
                    # A format suffix with and without the slash (`/?$`): each reaches a view.
                    urls = [url, url.rstrip("/")] if "<format>" in route else [url]
                    for url, (who, client) in itertools.product(urls, callers.items()):
                        writes = bodies if who == "manager" else bodies[:1]
                        for body in writes if method in {"post", "put", "patch"} else [None]:
                            kwargs = {"format": "json", "data": body} if body is not None else {}
                            response = getattr(client, method)(url, **kwargs)
                            if response.status_code >= 500:
                                failures.append(
                                    f"{method.upper()} {url} as {who} body={body}: "
                                    f"{response.status_code}"
                                )
    assert not failures, "\n".join(failures[:40])


@pytest.mark.parametrize("value", [HUGE, "-1", "0", "1.5", "abc", str(2**63), str(2**63 - 1)])
def test_id_filters_out_of_range_are_refused_or_empty_never_a_server_error(
    manager_api, org_a, value
):
    from api import filters

    lists = {
        "properties": filters.PropertyFilter,
        "listings": filters.ListingFilter,
        "devices": filters.DeviceFilter,
        "assignments": filters.AssignmentFilter,
        "connections": filters.ConnectionFilter,
        "reservations": filters.ReservationFilter,
        "overrides": filters.OverrideFilter,
        "events": filters.EventFilter,
        "alerts": filters.AlertFilter,
    }
    for resource, filterset in lists.items():
        for name, declared in filterset.base_filters.items():
            if not isinstance(declared, filters.IdFilter):
                continue
            response = manager_api.get(f"/api/v1/{resource}/", {name: value})
            assert response.status_code in (200, 400), (resource, name, response.status_code)
            if response.status_code == 200:
                assert response.json()["results"] == [] or value == "1", (resource, name)
            else:
                assert name in response.json()


def test_options_on_the_reservation_upsert_describes_its_body(manager_api):
    response = manager_api.options("/api/v1/reservations/by-external-id/EXT-1/")
    assert response.status_code == 200
    assert "guest_name" in response.json()["actions"]["PUT"]
