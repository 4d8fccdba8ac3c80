"""The published OpenAPI schema, and a property-based fuzz run of every operation in it.

Schemathesis reads /api/schema/ from the app, generates requests that the schema allows
(a few dozen per operation, derandomized so that CI sees the same run every time), and
checks each answer: never a 5xx, a status code and content type the schema documents,
and a body that matches the schema. Path ids are sometimes swapped for ids that exist,
in the caller's organization and in another one, so that the fuzz reaches real objects
and the isolation rules as well as 404s.
"""

import datetime
import tempfile
import time
from pathlib import Path

import pytest
import schemathesis
from django.test.client import ClientHandler
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.services import api_key_create
from calendar_feeds.models import CalendarFeed
from core import outbound
from hooks.models import WebhookDelivery, WebhookEndpoint
from locks.gateway import ProviderError, SeamGateway
from locks.models import Device, LockAssignment, LockProviderConnection
from properties.models import CrewMember, Listing, Organization, Property
from reservations.models import (
    AccessOverride,
    CodeClearance,
    DeviceAlert,
    LockEvent,
    Reservation,
    StandingAccess,
    Turnover,
)
from tests.factories import ReservationFactory
from tests.hooks.factories import webhook_delivery

pytestmark = pytest.mark.django_db

# Hypothesis caches what it learns in ./.hypothesis by default: keep the work tree clean.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "keystay-hypothesis")

EXAMPLES_PER_OPERATION = 30
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MODELS = {
    "properties": Property,
    "listings": Listing,
    "devices": Device,
    "assignments": LockAssignment,
    "connections": LockProviderConnection,
    "reservations": Reservation,
    "overrides": AccessOverride,
    "events": LockEvent,
    "alerts": DeviceAlert,
    "webhook-endpoints": WebhookEndpoint,
    "webhook-deliveries": WebhookDelivery,
    "calendar-feeds": CalendarFeed,
    "crew-members": CrewMember,
    "turnovers": Turnover,
    "standing-accesses": StandingAccess,
    "code-clearances": CodeClearance,
}
# Related ids in request bodies, swapped for existing ones now and then.
BODY_REFERENCES = {
    "organization": Organization,
    "property": Property,
    "listing": Listing,
    "device": Device,
    "reservation": Reservation,
    "assignment": LockAssignment,
    "assignee": CrewMember,
}


class InProcessApp:
    """Django's test-client handler as a WSGI app.

    Requests run in the test's own transaction (rolled back at the end), and the handler
    keeps Django from closing that connection between requests, as the test client does.
    """

    def __init__(self):
        self.handler = ClientHandler(enforce_csrf_checks=False)

    def __call__(self, environ, start_response):
        response = self.handler(environ)
        start_response(f"{response.status_code} {response.reason_phrase}", list(response.items()))
        return [response.content]


def often(data) -> bool:
    """Three times out of four (Hypothesis's simplest draw, 0, counts as yes)."""
    return data.draw(st.integers(0, 3)) != 3


def steer(case, data, ids: list[int], references: dict[str, list[int]]) -> None:
    """Now and then, swap generated ids and instants for existing ids and near instants.

    Random ids rarely exist and random years are mostly refused, so without this the fuzz
    would mostly see 404s and 400s; with it, it also creates, changes and cancels stays.
    """
    if ids and "id" in (case.path_parameters or {}) and often(data):
        case.path_parameters["id"] = data.draw(st.sampled_from(ids))
    if not isinstance(case.body, dict):
        return
    body = case.body
    if "guest_name" in body and "listing" not in body and often(data):
        body["listing"] = None  # a reservation: name its listing now and then
    for name, choices in references.items():
        if name in body and choices and often(data):
            body[name] = data.draw(st.sampled_from(choices))
    if "timezone" in body and often(data):
        body["timezone"] = data.draw(st.sampled_from(["Europe/Lisbon", "America/New_York"]))
    if "code" in body and often(data):
        body["code"] = data.draw(st.from_regex(r"[0-9]{4,8}", fullmatch=True))
    for start, end in (("check_in", "check_out"), ("starts_at", "ends_at")):
        if start in body and often(data):
            day = data.draw(st.dates(datetime.date(2024, 1, 1), datetime.date(2030, 12, 31)))
            body[start] = data.draw(
                st.sampled_from([day.isoformat(), f"{day.isoformat()}T15:00:00+01:00"])
            )
            if end in body:
                nights = data.draw(st.integers(-1, 20))
                body[end] = (day + datetime.timedelta(days=nights)).isoformat()


def fuzz(operation, *, headers: dict, ids: list[int], references: dict[str, list[int]]):
    @hypothesis_settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(), data=st.data())
    def exercise(case, data):
        steer(case, data, ids, references)
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS)

    exercise()


def test_schema_is_served_and_valid_openapi(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    for expected in [
        "/api/v1/connections/",
        "/api/v1/connections/{id}/sync/",
        "/api/v1/devices/",
        "/api/v1/properties/",
        "/api/v1/listings/",
        "/api/v1/assignments/",
        "/api/v1/reservations/",
        "/api/v1/reservations/{id}/cancel/",
        "/api/v1/reservations/{id}/end-stay/",
        "/api/v1/reservations/by-external-id/{external_id}/",
        "/api/v1/overrides/",
        "/api/v1/events/",
    ]:
        assert expected in paths
    schemes = schema["components"]["securitySchemes"]
    assert schemes["organizationApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["organizationApiKey"]["description"],
    }
    assert "tokenAuth" not in schemes  # user tokens are gone
    operation = schema["paths"]["/api/v1/reservations/"]["get"]
    assert {"organizationApiKey": []} in operation["security"]


def test_interactive_docs_are_served_beside_the_schema(client):
    for url in ("/api/docs/", "/api/redoc/"):
        response = client.get(url)
        assert response.status_code == 200
        assert b"/api/schema/" in response.content


def test_fuzzing_every_operation_finds_no_server_error_and_no_schema_violation(
    org_a, org_b, monkeypatch, settings
):
    # No request may leave the machine: Seam refuses every key here (an outage would be a
    # deliberate 503, which test_connections.py checks on its own).
    def refused(self, **kwargs):
        raise ProviderError("unauthorized", "Seam refused the API key.")

    monkeypatch.setattr(SeamGateway, "__init__", refused)

    # Nor a calendar feed's read ("sync"): every calendar is unreachable.
    def unreachable(url, **kwargs):
        raise OSError("No calendar is reachable from the fuzz.")

    monkeypatch.setattr(outbound, "get", unreachable)
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "100000/minute"},
    }
    ReservationFactory(listing=org_a.listing, status=Reservation.Status.PENDING)
    for org in (org_a, org_b):
        AccessOverride.objects.create(
            reservation=org.reservation, assignment=org.assignment, lead_time_minutes=60
        )
        LockEvent.objects.create(
            organization=org.organization,
            connection=org.device.connection,
            device=org.device,
            provider_event_id=f"event-{org.organization.pk}",
            event_type="lock.unlocked",
            kind=LockEvent.Kind.UNLOCKED,
            occurred_at=timezone.now(),
            method=LockEvent.Method.KEYPAD,
            reservation=org.reservation,
            person_name=org.reservation.guest_name,
        )
        DeviceAlert.objects.create(
            organization=org.organization,
            device=org.device,
            kind=DeviceAlert.Kind.OFFLINE,
            message="The lock is offline.",
            opened_at=timezone.now(),
        )
        webhook_delivery(org)
    _, key = api_key_create(organization=org_a.organization, name="fuzz", role="manager")
    headers = {"Authorization": f"Bearer {key}"}

    app = InProcessApp()
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", app)
    started = time.monotonic()
    # Deletions last, so that the other operations still find objects to work on.
    order = {"get": 0, "post": 1, "put": 2, "patch": 2, "delete": 3}
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()),
        key=lambda operation: order[operation.method.lower()],
    )
    assert len(operations) > 30

    # Webhook URLs the fuzz makes up never reach a DNS server: every name resolves to a
    # public address, and nothing is sent to it (no transaction commits in this test).
    with outbound.resolver_override(lambda host, port: ["93.184.215.14"]):
        for operation in operations:
            resource = operation.path.split("/")[3]
            fuzz(
                operation,
                headers=headers,
                ids=list(MODELS[resource].objects.order_by("pk").values_list("pk", flat=True)),
                references={
                    name: list(model.objects.order_by("pk").values_list("pk", flat=True))
                    for name, model in BODY_REFERENCES.items()
                },
            )
    # Reported, not asserted: a loaded machine must not fail the suite on speed.
    print(f"schema fuzz: {len(operations)} operations in {time.monotonic() - started:.0f} s")
