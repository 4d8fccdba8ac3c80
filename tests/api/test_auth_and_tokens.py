"""Who gets in: tokens (made in the admin or with drf_create_token), sessions, rate limits."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from properties.models import Membership
from reservations.models import AccessOverride, LockEvent
from tests.factories import MembershipFactory, UserFactory

from .conftest import token_client

pytestmark = pytest.mark.django_db

PROPERTIES = "/api/v1/properties/"
TOKENS = reverse("admin:authtoken_tokenproxy_changelist")
ADD_TOKEN = reverse("admin:authtoken_tokenproxy_add")


def test_a_request_without_credentials_is_401_and_says_how_to_authenticate(org_a):
    response = APIClient().get(PROPERTIES)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("key", ["0" * 40, "not-a-token", "x" * 500, "é" * 40])
def test_an_unknown_or_malformed_token_is_401(org_a, key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(PROPERTIES).status_code == 401


def test_a_token_acts_as_its_person_in_their_organizations_only(manager_api, org_a, org_b):
    response = manager_api.get(PROPERTIES)
    assert response.status_code == 200
    assert [p["name"] for p in response.json()["results"]] == [org_a.property.name]


def test_a_person_without_organization_sees_nothing(db):
    client = token_client(UserFactory(username="loner"))
    response = client.get("/api/v1/reservations/")
    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_a_session_signs_in_the_browsable_api(client, org_a):
    client.force_login(org_a.staff)
    response = client.get(PROPERTIES, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"Alpha House" in response.content
    assert b"browsable-api" in response.content or b"Django REST framework" in response.content


@pytest.mark.parametrize(
    "path",
    [
        "",
        "properties/",
        "listings/",
        "devices/",
        "assignments/",
        "connections/",
        "reservations/",
        "overrides/",
        "events/",
    ],
)
def test_the_browsable_api_renders_every_list_and_object_page(client, wired, path):
    reservation = wired.book()
    assignment = wired.listing.assignments.get(device=wired.gate)
    objects = {
        "properties/": wired.listing.property,
        "listings/": wired.listing,
        "devices/": wired.gate,
        "assignments/": assignment,
        "connections/": wired.connection,
        "reservations/": reservation,
        "overrides/": AccessOverride.objects.create(
            reservation=reservation, assignment=assignment, lead_time_minutes=5
        ),
        "events/": LockEvent.objects.create(
            organization=wired.connection.organization,
            connection=wired.connection,
            device=wired.gate,
            provider_event_id="evt-1",
            event_type="lock.unlocked",
            kind=LockEvent.Kind.UNLOCKED,
            occurred_at=reservation.check_in,
        ),
    }
    client.force_login(wired.connection.organization.memberships.get(role="manager").user)
    assert client.get(f"/api/v1/{path}", HTTP_ACCEPT="text/html").status_code == 200
    if path:
        url = f"/api/v1/{path}{objects[path].pk}/"
        assert client.get(url, HTTP_ACCEPT="text/html").status_code == 200


def test_the_rate_limit_counts_per_token(org_a, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "3/minute"},
    }
    first, second = token_client(org_a.manager), token_client(org_a.staff)
    assert [first.get(PROPERTIES).status_code for _ in range(3)] == [200] * 3
    limited = first.get(PROPERTIES)
    assert limited.status_code == 429
    assert "Retry-After" in limited
    assert second.get(PROPERTIES).status_code == 200  # another token has its own count


def test_drf_create_token_makes_a_working_token(org_a):
    call_command("drf_create_token", org_a.staff.username, stdout=io.StringIO())
    key = Token.objects.get(user=org_a.staff).key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(PROPERTIES).status_code == 200


# The token admin ---------------------------------------------------------------------


@pytest.fixture
def pms_user(org_a):
    """A machine user of org_a only, whose token a manager of org_a may handle."""
    return MembershipFactory(
        organization=org_a.organization, user__username="pms-bot", role=Membership.Role.STAFF
    ).user


def test_a_manager_creates_a_token_for_a_member_and_reads_its_key_once_created(
    client, org_a, pms_user
):
    client.force_login(org_a.manager)
    response = client.post(ADD_TOKEN, {"user": pms_user.pk})
    assert response.status_code == 302
    token = Token.objects.get(user=pms_user)
    page = client.get(reverse("admin:authtoken_tokenproxy_change", args=[pms_user.pk]))
    assert token.key in page.content.decode()
    listing = client.get(TOKENS).content.decode()
    assert token.key not in listing and token.key[:4] in listing  # masked in the list


def test_a_manager_sees_and_revokes_only_tokens_of_their_organizations_people(
    client, org_a, org_b, pms_user
):
    mine = Token.objects.create(user=pms_user)
    theirs = Token.objects.create(user=org_b.staff)
    client.force_login(org_a.manager)
    page = client.get(TOKENS).content.decode()
    assert "pms-bot" in page and org_b.staff.username not in page
    delete_theirs = reverse("admin:authtoken_tokenproxy_delete", args=[org_b.staff.pk])
    client.post(delete_theirs, {"post": "yes"})
    assert Token.objects.filter(pk=theirs.pk).exists()
    delete_mine = reverse("admin:authtoken_tokenproxy_delete", args=[pms_user.pk])
    assert client.post(delete_mine, {"post": "yes"}).status_code == 302
    assert not Token.objects.filter(pk=mine.pk).exists()


def test_a_manager_cannot_create_a_token_reaching_beyond_their_organizations(client, org_a, org_b):
    # Someone who is also a member of org_b: their token would open org_b too.
    both = MembershipFactory(organization=org_b.organization, user=org_a.staff).user
    client.force_login(org_a.manager)
    for user in (org_b.staff, both):
        response = client.post(ADD_TOKEN, {"user": user.pk})
        assert response.status_code == 200  # the form again, with an error
        assert "Select a valid choice" in response.content.decode()
    assert not Token.objects.exists()


def test_staff_cannot_manage_tokens(client, org_a):
    client.force_login(org_a.staff)
    assert client.get(TOKENS).status_code == 403
    assert client.post(ADD_TOKEN, {"user": org_a.staff.pk}).status_code == 403
    assert not Token.objects.exists()


def test_a_superuser_sees_every_token(client, org_a, org_b):
    Token.objects.create(user=org_a.staff)
    Token.objects.create(user=org_b.staff)
    client.force_login(UserFactory(username="root", is_superuser=True))
    page = client.get(TOKENS).content.decode()
    assert org_a.staff.username in page and org_b.staff.username in page
