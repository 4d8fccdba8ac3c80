"""Who gets in: organization API keys (admin or `create_api_key`), sessions, rate limits.

A key acts in its one organization with its own role, whoever made it; it is stored
hashed, shown once, revocable at once. User tokens are gone.
"""

import datetime
import io

import pytest
import time_machine
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from api.models import OrganizationAPIKey
from api.services import api_key_create, api_key_revoke
from locks.models import LockProviderConnection
from properties.models import Listing, Membership
from reservations.models import AccessOverride, LockEvent
from tests.factories import MembershipFactory, OrganizationFactory, PropertyFactory, UserFactory

from .conftest import key_client

pytestmark = pytest.mark.django_db

PROPERTIES = "/api/v1/properties/"
RESERVATIONS = "/api/v1/reservations/"
KEYS = reverse("admin:api_organizationapikey_changelist")
ADD_KEY = reverse("admin:api_organizationapikey_add")


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def property_names(client) -> list[str]:
    response = client.get(PROPERTIES)
    assert response.status_code == 200
    return [row["name"] for row in response.json()["results"]]


def add_key_in_admin(client, organization, *, name="PMS", role="staff"):
    return client.post(ADD_KEY, {"name": name, "organization": organization.pk, "role": role})


def change_url(api_key) -> str:
    return reverse("admin:api_organizationapikey_change", args=[api_key.pk])


# Getting in -----------------------------------------------------------------------------


def test_a_request_without_credentials_is_401_and_says_how_to_authenticate(org_a):
    response = APIClient().get(PROPERTIES)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize(
    "key",
    [
        "abcdEFGH." + "0" * 32,  # well formed, unknown
        "not-a-key",
        "",
        "x" * 500,
        "é" * 41,
        "abcdEFGH." + "0" * 32 + " extra",
    ],
)
def test_an_unknown_or_malformed_key_is_401(org_a, key):
    assert bearer(key).get(PROPERTIES).status_code == 401


def test_a_key_with_its_prefix_but_another_secret_is_401(org_a):
    api_key, plaintext = api_key_create(organization=org_a.organization, name="PMS", role="staff")
    forged = f"{api_key.prefix}.{'A' * 32}"
    assert forged != plaintext
    assert bearer(forged).get(PROPERTIES).status_code == 401
    assert bearer(plaintext).get(PROPERTIES).status_code == 200


def test_the_old_token_header_no_longer_works(org_a):
    """User tokens were removed: `Authorization: Token …` signs nothing in, whatever follows."""
    assert "rest_framework.authtoken" not in settings.INSTALLED_APPS
    _, plaintext = api_key_create(organization=org_a.organization, name="PMS", role="manager")
    for scheme in ("Token", "Api-Key"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"{scheme} {plaintext}")
        assert client.get(PROPERTIES).status_code == 401
        client.credentials(HTTP_AUTHORIZATION=f"{scheme} {'0' * 40}")
        assert client.get(PROPERTIES).status_code == 401


# A key is its organization, with its role ----------------------------------------------


def test_a_key_reads_only_its_organization_though_its_creator_belongs_to_others(
    client, org_a, org_b
):
    """The creator manages both organizations; the key they make for org_a reads org_a only,
    and stays so when the creator later joins a third organization."""
    MembershipFactory(organization=org_b.organization, user=org_a.manager)
    client.force_login(org_a.manager)
    response = add_key_in_admin(client, org_a.organization, role="manager")
    assert response.status_code == 200
    plaintext = response.context["plaintext"]
    api = bearer(plaintext)

    assert property_names(api) == [org_a.property.name]
    assert api.get(f"{RESERVATIONS}{org_b.reservation.pk}/").status_code == 404
    assert api.get(f"/api/v1/listings/{org_b.listing.pk}/").status_code == 404
    codes_elsewhere = api.patch(f"{RESERVATIONS}{org_b.reservation.pk}/", {"guest_name": "X"})
    assert codes_elsewhere.status_code == 404
    # Another organization's ids are refused like unknown ones.
    refused = api.post(
        PROPERTIES, {"name": "Z", "timezone": "UTC", "organization": org_b.organization.pk}
    )
    assert refused.status_code == 400 and "organization" in refused.json()
    # No choice to make: the key has one organization.
    created = api.post(PROPERTIES, {"name": "Z", "timezone": "UTC"})
    assert created.status_code == 201 and created.json()["organization"] == org_a.organization.pk

    third = PropertyFactory(organization=OrganizationFactory(name="Charlie"), name="C House")
    MembershipFactory(organization=third.organization, user=org_a.manager)
    assert sorted(property_names(api)) == sorted([org_a.property.name, "Z"])
    # Signed in, the person themselves does see all three.
    client.logout()
    person = APIClient()
    person.force_login(org_a.manager)
    assert len(property_names(person)) == 4


def test_a_key_keeps_its_role_whatever_its_creators_role(client, org_a, org_b):
    """A staff key made by a manager is a staff key: it cannot change settings."""
    client.force_login(org_a.manager)
    plaintext = add_key_in_admin(client, org_a.organization, role="staff").context["plaintext"]
    api = bearer(plaintext)
    listing = api.post(
        "/api/v1/listings/", {"property": org_a.property.pk, "name": "New", "external_id": "N"}
    )
    assert listing.status_code == 403
    connection_ = api.post("/api/v1/connections/", {"api_key": "seam_test_x"})
    assert connection_.status_code == 403
    assert api.patch(f"/api/v1/listings/{org_a.listing.pk}/", {"name": "X"}).status_code == 403
    assert api.delete(f"/api/v1/properties/{org_a.property.pk}/").status_code == 403
    assert not Listing.objects.filter(name="New").exists()
    assert LockProviderConnection.objects.filter(organization=org_a.organization).count() == 1
    # Staff work on reservations.
    changed = api.patch(f"{RESERVATIONS}{org_a.reservation.pk}/", {"guest_name": "Ana"})
    assert changed.status_code == 200


def test_a_manager_key_changes_settings_of_its_organization(org_a):
    api = key_client(org_a.organization, Membership.Role.MANAGER)
    response = api.patch(f"/api/v1/listings/{org_a.listing.pk}/", {"name": "Renamed"})
    assert response.status_code == 200
    org_a.listing.refresh_from_db()
    assert org_a.listing.name == "Renamed"


def test_a_key_reads_the_codes_of_its_organization(staff_api, org_a):
    from reservations.services import reservation_confirm

    reservation = org_a.reservation
    reservation.status = "pending"
    reservation.save()
    reservation_confirm(reservation=reservation)
    shown = staff_api.get(f"{RESERVATIONS}{reservation.pk}/").json()["code"]
    assert shown == reservation.code.value


# Revoked, expired -----------------------------------------------------------------------


def test_a_revoked_key_is_refused_at_once(org_a):
    api_key, plaintext = api_key_create(organization=org_a.organization, name="PMS", role="staff")
    api = bearer(plaintext)
    assert api.get(PROPERTIES).status_code == 200
    api_key_revoke(api_key=api_key)
    assert api.get(PROPERTIES).status_code == 401
    api_key.refresh_from_db()
    assert api_key.revoked and api_key.revoked_at is not None


def test_an_expired_key_is_refused(org_a):
    past = timezone.now() - datetime.timedelta(minutes=1)
    _, plaintext = api_key_create(
        organization=org_a.organization, name="PMS", role="staff", expiry_date=past
    )
    response = bearer(plaintext).get(PROPERTIES)
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_a_manager_revokes_a_key_in_the_admin(client, org_a):
    api_key, plaintext = api_key_create(organization=org_a.organization, name="PMS", role="staff")
    client.force_login(org_a.manager)
    response = client.post(
        change_url(api_key),
        {"name": "PMS", "revoked": "on", "expiry_date_0": "", "expiry_date_1": ""},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    api_key.refresh_from_db()
    assert api_key.revoked and api_key.revoked_at is not None
    assert bearer(plaintext).get(PROPERTIES).status_code == 401
    # Revoked for good: the page is read-only now.
    assert client.post(change_url(api_key), {"name": "Again"}).status_code == 403


def test_the_revoke_action_of_the_list_revokes_only_the_managers_keys(client, org_a, org_b):
    mine, mine_key = api_key_create(organization=org_a.organization, name="A", role="staff")
    theirs, theirs_key = api_key_create(organization=org_b.organization, name="B", role="staff")
    client.force_login(org_a.manager)
    response = client.post(
        KEYS,
        {"action": "revoke_selected", "_selected_action": [mine.pk, theirs.pk]},
    )
    assert response.status_code == 302
    assert bearer(mine_key).get(PROPERTIES).status_code == 401
    assert bearer(theirs_key).get(PROPERTIES).status_code == 200


# Stored hashed, shown once --------------------------------------------------------------


def test_the_key_is_not_stored_in_clear(client, org_a):
    api_key, plaintext = api_key_create(organization=org_a.organization, name="PMS", role="staff")
    prefix, _, secret = plaintext.partition(".")
    assert api_key.prefix == prefix
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT * FROM {OrganizationAPIKey._meta.db_table} WHERE id = %s", [api_key.pk]
        )
        row = " ".join(str(value) for value in cursor.fetchone())
    assert secret not in row and plaintext not in row
    assert api_key.hashed_key.startswith("sha512$$") and plaintext not in api_key.hashed_key
    # The admin names it by its prefix only: neither the key nor its hash reaches a page.
    client.force_login(org_a.manager)
    for url in (KEYS, change_url(api_key)):
        page = client.get(url).content.decode()
        assert prefix in page
        assert secret not in page and api_key.hashed_key.split("$$")[1] not in page


def test_the_admin_shows_a_new_key_once(client, org_a):
    client.force_login(org_a.manager)
    response = add_key_in_admin(client, org_a.organization, name="Hostaway", role="manager")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    plaintext = response.context["plaintext"]
    assert plaintext in response.content.decode()
    api_key = OrganizationAPIKey.objects.get()
    assert (api_key.name, api_key.role, api_key.created_by) == (
        "Hostaway",
        "manager",
        org_a.manager,
    )
    assert api_key.organization == org_a.organization
    assert bearer(plaintext).get(PROPERTIES).status_code == 200
    # Never again: not on the list, its page, a message, the session or the log.
    for url in (KEYS, change_url(api_key), reverse("admin:index")):
        assert plaintext.split(".")[1] not in client.get(url).content.decode()
    assert plaintext not in str(dict(client.session))
    assert plaintext not in " ".join(LogEntry.objects.values_list("object_repr", flat=True))


def test_a_manager_of_one_organization_gets_it_preselected(client, org_a):
    client.force_login(org_a.manager)
    form = client.get(ADD_KEY).context["adminform"].form
    assert form.initial["organization"] == org_a.organization.pk
    assert list(form.fields["organization"].queryset) == [org_a.organization]


def test_a_manager_cannot_create_a_key_for_another_organization(client, org_a, org_b):
    # Not even one where they are staff: a key may carry the manager role.
    MembershipFactory(
        organization=org_b.organization, user=org_a.manager, role=Membership.Role.STAFF
    )
    client.force_login(org_a.manager)
    for role in ("staff", "manager"):
        response = add_key_in_admin(client, org_b.organization, role=role)
        assert response.status_code == 200
        assert "Select a valid choice" in response.content.decode()
    assert not OrganizationAPIKey.objects.exists()


def test_a_manager_sees_only_keys_of_organizations_they_manage(client, org_a, org_b):
    api_key_create(organization=org_a.organization, name="Mine", role="staff")
    theirs, _ = api_key_create(organization=org_b.organization, name="Theirs", role="staff")
    client.force_login(org_a.manager)
    page = client.get(KEYS).content.decode()
    assert "Mine" in page and "Theirs" not in page
    assert client.get(change_url(theirs)).status_code == 404
    delete = reverse("admin:api_organizationapikey_delete", args=[theirs.pk])
    client.post(delete, {"post": "yes"})
    assert OrganizationAPIKey.objects.filter(pk=theirs.pk).exists()


def test_staff_cannot_open_the_keys(client, org_a):
    api_key, _ = api_key_create(organization=org_a.organization, name="PMS", role="manager")
    client.force_login(org_a.staff)
    assert client.get(KEYS).status_code == 403
    assert client.get(ADD_KEY).status_code == 403
    assert add_key_in_admin(client, org_a.organization).status_code == 403
    assert client.get(change_url(api_key)).status_code in (403, 404)
    assert "API keys" not in client.get(reverse("admin:index")).content.decode()
    assert OrganizationAPIKey.objects.count() == 1


def test_a_superuser_sees_every_key(client, org_a, org_b):
    api_key_create(organization=org_a.organization, name="Alpha PMS", role="staff")
    api_key_create(organization=org_b.organization, name="Bravo PMS", role="staff")
    client.force_login(UserFactory(username="root", is_superuser=True))
    page = client.get(KEYS).content.decode()
    assert "Alpha PMS" in page and "Bravo PMS" in page


# Last use -------------------------------------------------------------------------------


def test_the_last_use_is_written_at_most_once_a_minute(org_a):
    api_key, plaintext = api_key_create(organization=org_a.organization, name="PMS", role="staff")
    api = bearer(plaintext)
    start = datetime.datetime(2030, 1, 1, 12, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False):
        assert api.get(PROPERTIES).status_code == 200
    api_key.refresh_from_db()
    assert api_key.last_used_at == start

    soon = start + datetime.timedelta(seconds=30)
    with time_machine.travel(soon, tick=False), CaptureQueriesContext(connection) as queries:
        assert api.get(PROPERTIES).status_code == 200
    assert not [q for q in queries if q["sql"].lstrip().upper().startswith("UPDATE")]
    api_key.refresh_from_db()
    assert api_key.last_used_at == start

    later = start + datetime.timedelta(minutes=2)
    with time_machine.travel(later, tick=False):
        assert api.get(PROPERTIES).status_code == 200
    api_key.refresh_from_db()
    assert api_key.last_used_at == later


# The command ----------------------------------------------------------------------------


def test_create_api_key_prints_a_working_key(org_a, org_b):
    out = io.StringIO()
    call_command(
        "create_api_key",
        "--organization",
        org_a.organization.name,
        "--name",
        "Guesty",
        "--role",
        "manager",
        stdout=out,
    )
    plaintext = out.getvalue().strip().splitlines()[-1]
    api_key = OrganizationAPIKey.objects.get()
    assert (api_key.organization, api_key.role, api_key.name) == (
        org_a.organization,
        "manager",
        "Guesty",
    )
    assert api_key.prefix in out.getvalue()
    assert property_names(bearer(plaintext)) == [org_a.property.name]


def test_create_api_key_makes_staff_keys_by_default(org_a):
    call_command(
        "create_api_key", "--organization", "Alpha", "--name", "PMS", stdout=io.StringIO()
    )
    assert OrganizationAPIKey.objects.get().role == "staff"


def test_create_api_key_refuses_an_unknown_organization(org_a):
    with pytest.raises(CommandError, match="No organization is named 'Alpah'"):
        call_command("create_api_key", "--organization", "Alpah", "--name", "PMS")
    with pytest.raises(CommandError):
        call_command(
            "create_api_key", "--organization", "Alpha", "--name", "PMS", "--role", "root"
        )
    with pytest.raises(CommandError, match="50 characters"):
        call_command("create_api_key", "--organization", "Alpha", "--name", "x" * 51)
    assert not OrganizationAPIKey.objects.exists()


# Sessions, rate limits ------------------------------------------------------------------


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


def test_a_key_also_renders_the_browsable_api(manager_api):
    assert manager_api.get(PROPERTIES, HTTP_ACCEPT="text/html").status_code == 200


def test_the_rate_limit_counts_per_key(org_a, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "3/minute"},
    }
    first = key_client(org_a.organization, name="first")
    second = key_client(org_a.organization, name="second")
    assert [first.get(PROPERTIES).status_code for _ in range(3)] == [200] * 3
    limited = first.get(PROPERTIES)
    assert limited.status_code == 429
    assert "Retry-After" in limited
    assert second.get(PROPERTIES).status_code == 200  # another key has its own count


# User tokens are gone -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_drops_the_user_tokens_table():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY)")
        cursor.execute("INSERT INTO authtoken_token (key) VALUES ('%s')" % ("0" * 40))
        cursor.execute(
            "INSERT INTO django_migrations (app, name, applied) "
            "VALUES ('authtoken', '0001_initial', %s)",
            [timezone.now()],
        )
    executor = MigrationExecutor(connection)
    executor.migrate([("api", "0001_organization_api_keys")])  # going back creates nothing
    executor = MigrationExecutor(connection)
    executor.migrate([("api", "0002_drop_authtoken_table")])
    assert "authtoken_token" not in connection.introspection.table_names()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM django_migrations WHERE app = 'authtoken'")
        assert cursor.fetchone()[0] == 0
