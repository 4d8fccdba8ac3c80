"""Settings → Connections → Smart Devices: connect a Seam workspace, import, assign.

Seam is the official fake server (tests/fixtures_seam.py), reached through the real SDK.
"""

import re

import httpx
import pytest
from django.urls import reverse

from locks.models import ConnectWebview, Device, LockAssignment, LockProviderConnection
from locks.services import connection_create, devices_sync
from tests.factories import (
    ConnectionFactory,
    DeviceFactory,
    ListingFactory,
    LockAssignmentFactory,
)

pytestmark = pytest.mark.django_db

LIST_URL = reverse("smart_devices:list")
ADD_URL = reverse("smart_devices:add")
SEEDED_LOCKS = {"Garden Gate", "Side Door", "Pool House"}
SEEDED_ENTRANCES = {"Building Front Entrance", "Garage Gate"}


def action_url(name, connection):
    return reverse(f"smart_devices:{name}", args=[connection.pk])


def page_text(client) -> str:
    response = client.get(LIST_URL)
    assert response.status_code == 200
    return response.content.decode()


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def seam(fake_seam):
    fake_seam.reset()
    return fake_seam


@pytest.fixture
def seam_connection(seam, org_a):
    """A connection of org_a to the fake's workspace, its devices imported."""
    connection = connection_create(
        organization=org_a.organization,
        name="Harbour Seam",
        api_key=seam.api_key,
        endpoint=seam.url,
    )
    devices_sync(connection=connection)
    return connection


def assign(client, connection, devices, listing, role="secondary", guest_access=True):
    prefix = f"assign-{connection.pk}"
    data = {
        f"{prefix}-devices": [d.pk for d in devices],
        f"{prefix}-listing": listing.pk,
        f"{prefix}-role": role,
    }
    if guest_access:
        data[f"{prefix}-guest_access"] = "on"
    return client.post(action_url("assign", connection), data, follow=True)


# --- adding a connection ------------------------------------------------------------------------


def test_adding_a_connection_checks_the_key_and_imports_locks_and_entrances(
    manager_client, org_a, seam, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(
            ADD_URL,
            {
                "organization": org_a.organization.pk,
                "name": "Harbour Seam",
                "api_key": seam.api_key,
                "endpoint": seam.url,
            },
        )
    assert response.status_code == 302
    assert response["Location"] == LIST_URL

    connection = LockProviderConnection.objects.get(name="Harbour Seam")
    assert connection.organization == org_a.organization
    assert connection.api_key == seam.api_key
    assert connection.sync_state == LockProviderConnection.SyncState.OK
    devices = Device.objects.filter(connection=connection)
    locks = set(devices.filter(kind=Device.Kind.LOCK).values_list("name", flat=True))
    entrances = set(devices.filter(kind=Device.Kind.ACS_ENTRANCE).values_list("name", flat=True))
    assert locks >= SEEDED_LOCKS
    assert entrances == SEEDED_ENTRANCES

    page = manager_client.get(LIST_URL)
    assert any(m.startswith("Connected to workspace") for m in messages_of(page))
    html = page.content.decode()
    assert connection.workspace_name in html
    assert "Garden Gate" in html and "Garage Gate" in html
    assert "82%" in html  # Garden Gate's battery
    assert "offline" in html  # Pool House
    assert connection.masked_api_key in html


def test_organization_is_preselected_for_a_manager_of_one_organization(manager_client, org_a):
    html = page_text(manager_client)
    assert f'<input type="hidden" name="organization" value="{org_a.organization.pk}"' in html


def test_refused_key_is_a_field_error_and_nothing_is_saved(manager_client, org_a, seam):
    response = manager_client.post(
        ADD_URL,
        {
            "organization": org_a.organization.pk,
            "name": "Harbour Seam",
            "api_key": "seam_bad_key_0000",
            "endpoint": seam.url,
        },
    )
    assert response.status_code == 200
    form = response.context["add_form"]
    assert form.errors["api_key"] == ["Seam refused the API key."]
    html = response.content.decode()
    assert "Seam refused the API key." in html
    assert "seam_bad_key_0000" not in html  # the password field is never filled back
    assert not LockProviderConnection.objects.filter(name="Harbour Seam").exists()


def test_unreachable_seam_is_a_form_error_and_nothing_is_saved(manager_client, org_a, seam):
    seam.control("/outage", routes=["/devices/list"])
    try:
        response = manager_client.post(
            ADD_URL,
            {
                "organization": org_a.organization.pk,
                "name": "Harbour Seam",
                "api_key": seam.api_key,
                "endpoint": seam.url,
            },
        )
    finally:
        seam.control("/outage", routes=[])
    assert response.status_code == 200
    errors = response.context["add_form"].non_field_errors()
    assert errors and "unavailable" in errors[0]
    assert not LockProviderConnection.objects.filter(name="Harbour Seam").exists()


def test_a_name_already_used_in_the_organization_is_a_field_error(manager_client, org_a):
    taken = org_a.device.connection.name
    response = manager_client.post(
        ADD_URL,
        {"organization": org_a.organization.pk, "name": taken, "api_key": "seam_whatever"},
    )
    assert response.status_code == 200
    assert "already has a connection named" in response.context["add_form"].errors["name"][0]
    assert LockProviderConnection.objects.filter(name=taken).count() == 1


def test_a_manager_cannot_add_a_connection_to_another_organization(manager_client, org_b):
    response = manager_client.post(
        ADD_URL,
        {"organization": org_b.organization.pk, "name": "Sneaky", "api_key": "seam_whatever"},
    )
    assert response.status_code == 200
    assert "organization" in response.context["add_form"].errors
    assert not LockProviderConnection.objects.filter(name="Sneaky").exists()


# --- what the page shows -------------------------------------------------------------------------


def test_the_page_never_contains_the_api_key(manager_client, seam_connection):
    html = page_text(manager_client)
    assert "Harbour Seam" in html
    assert seam_connection.masked_api_key in html
    assert seam_connection.api_key not in html
    assert seam_connection.api_key_ciphertext not in html


def test_page_shows_devices_with_their_state_and_listings(manager_client, org_a):
    device = org_a.device
    device.online = False
    device.battery_level = 0.07
    device.save()
    removed = DeviceFactory(connection=device.connection, name="Old Shed Lock")
    removed.removed_at = removed.created_at
    removed.save()
    html = page_text(manager_client)
    assert "Alpha Front Door" in html
    assert "offline" in html and "7%" in html
    assert re.search(r"Alpha Flat</a>\s+\(primary\)", html)
    assert "removed at provider" in html
    # A removed device cannot be ticked for assignment.
    assert f'value="{removed.pk}"' not in html
    assert f'value="{device.pk}"' in html


def test_refreshes_only_while_an_import_is_queued_or_running(manager_client, org_a):
    connection = org_a.device.connection
    assert '<meta http-equiv="refresh"' not in page_text(manager_client)

    LockProviderConnection.objects.filter(pk=connection.pk).update(
        sync_state=LockProviderConnection.SyncState.RUNNING, sync_total=120, sync_done=50
    )
    html = page_text(manager_client)
    assert '<meta http-equiv="refresh" content="2">' in html
    assert "50 of 120 devices" in html


def test_staff_see_the_page_but_every_change_is_forbidden(staff_client, org_a):
    connection = org_a.device.connection
    html = page_text(staff_client)
    assert connection.name in html and "Alpha Front Door" in html
    assert "Add a connection" not in html and "Import devices" not in html

    posts = [
        (ADD_URL, {"organization": org_a.organization.pk, "name": "X", "api_key": "k"}),
        (action_url("import", connection), {}),
        (action_url("connect", connection), {"pin_lock_providers": ["august"]}),
        (action_url("assign", connection), {}),
    ]
    for url, data in posts:
        assert staff_client.post(url, data).status_code == 403, url
    assert staff_client.get(action_url("connect", connection)).status_code == 403
    assert staff_client.get(action_url("return", connection)).status_code == 403
    assert not LockProviderConnection.objects.filter(name="X").exists()


def test_another_organizations_connection_is_absent_and_404(manager_client, org_a, org_b):
    other = org_b.device.connection
    html = page_text(manager_client)
    assert other.name not in html and "Bravo" not in html
    for name in ("import", "connect", "assign"):
        assert manager_client.post(action_url(name, other)).status_code == 404, name
    assert manager_client.get(action_url("connect", other)).status_code == 404
    assert manager_client.get(action_url("return", other)).status_code == 404


def test_the_page_needs_a_staff_sign_in(client):
    response = client.get(LIST_URL)
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_admin_index_links_to_smart_devices_for_members_only(manager_client, client):
    assert LIST_URL in manager_client.get(reverse("admin:index")).content.decode()

    from tests.factories import UserFactory

    client.force_login(UserFactory(username="no-organization"))
    assert LIST_URL not in client.get(reverse("admin:index")).content.decode()


# --- actions ------------------------------------------------------------------------------------


def test_import_devices_queues_an_import_and_reports_it(
    manager_client, seam_connection, seam, django_capture_on_commit_callbacks
):
    seam.control("/devices/update", device_id=seam.seed["devices"]["constrained"], name="Gate")
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(action_url("import", seam_connection))
    assert response.status_code == 302
    seam_connection.refresh_from_db()
    assert seam_connection.sync_state == LockProviderConnection.SyncState.OK
    assert seam_connection.sync_summary["updated"] == 1
    page = manager_client.get(LIST_URL)
    # The worker ran after the redirect here (the callbacks run as the request ends).
    assert "“Harbour Seam”: Importing its devices; this page shows progress." in messages_of(page)
    assert "1 updated" in page.content.decode()


def test_a_queued_import_says_waiting_not_the_last_imports_progress(
    manager_client, seam_connection, django_capture_on_commit_callbacks
):
    assert seam_connection.devices.count() == 8  # "8 of 8 devices" after the first import
    with django_capture_on_commit_callbacks(execute=False):  # the worker has not run yet
        manager_client.post(action_url("import", seam_connection))
    status = page_text(manager_client).split('class="sync-state"')[1].split("</td>")[0]
    assert "Import queued" in status and "waiting to start" in status
    assert "of 8 devices" not in status


@pytest.mark.django_db(transaction=True)
def test_an_import_done_before_the_page_shows_says_done_not_queued(manager_client, seam, org_a):
    """As `make run` with a quick worker, or django-q2 run inline: the import is over
    when the page comes back, and neither the message nor the status says it is to come."""
    connection = connection_create(
        organization=org_a.organization,
        name="Harbour Seam",
        api_key=seam.api_key,
        endpoint=seam.url,
    )
    devices_sync(connection=connection)
    page = manager_client.post(action_url("import", connection), follow=True)
    assert messages_of(page) == [
        "“Harbour Seam”: Devices imported: 0 new, 0 updated, 8 unchanged, 0 removed at the "
        "provider."
    ]
    status = page.content.decode().split('class="sync-state"')[1].split("</td>")[0]
    assert "Imported" in status and "queued" not in status and "waiting" not in status
    assert '<meta http-equiv="refresh"' not in page.content.decode()


def test_provider_outage_during_import_is_shown_and_devices_are_kept(
    manager_client, seam_connection, seam, django_capture_on_commit_callbacks
):
    before = set(seam_connection.devices.values_list("name", "removed_at"))
    seam.control("/outage", routes=["/locks/list", "/devices/list"])
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = manager_client.post(action_url("import", seam_connection))
    finally:
        seam.control("/outage", routes=[])
    assert response.status_code == 302

    seam_connection.refresh_from_db()
    assert seam_connection.sync_state == LockProviderConnection.SyncState.FAILED
    html = page_text(manager_client)
    assert f"Last import failed: {seam_connection.last_sync_error}" in html
    assert "Import failed" in html
    assert set(seam_connection.devices.values_list("name", "removed_at")) == before
    assert "Garden Gate" in html


def test_connect_a_provider_account_links_it_and_imports(
    manager_client, seam_connection, seam, django_capture_on_commit_callbacks
):
    form_page = manager_client.get(action_url("connect", seam_connection))
    assert form_page.status_code == 200
    assert "Salto" in form_page.content.decode() and "August" in form_page.content.decode()

    response = manager_client.post(
        action_url("connect", seam_connection),
        {"pin_lock_providers": ["august"], "access_control_providers": ["salto"]},
    )
    webview = ConnectWebview.objects.get(connection=seam_connection)
    assert response.status_code == 302
    assert response["Location"] == webview.url
    assert webview.accepted_providers == ["august", "salto"]

    # The manager signs in at the provider: the fake completes the webview.
    httpx.post(
        f"{seam.url}/_fake/complete_connect_webview",
        json={"connect_webview_id": webview.provider_webview_id},
    ).raise_for_status()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = manager_client.get(action_url("return", seam_connection), follow=True)
    assert callbacks, "an import is queued once an account is linked"
    webview.refresh_from_db()
    assert webview.status == "authorized"
    account = seam_connection.accounts.get(provider_account_id=webview.provider_account_id)
    assert [m for m in messages_of(response) if m.startswith("Linked")] == [
        f"Linked {account.user_identifier} ({account.display_name}) to “Harbour Seam”. "
        "Importing its devices; this page shows progress."
    ]
    assert account.user_identifier in response.content.decode()


def test_connect_needs_at_least_one_provider(manager_client, seam_connection):
    response = manager_client.post(action_url("connect", seam_connection), {})
    assert response.status_code == 200
    assert "Choose at least one provider." in response.content.decode()
    assert not ConnectWebview.objects.exists()


def test_provider_error_when_connecting_is_shown_on_the_page(
    manager_client, seam_connection, seam
):
    seam.control("/outage", routes=["/connect_webviews/create"])
    try:
        response = manager_client.post(
            action_url("connect", seam_connection), {"pin_lock_providers": ["yale"]}
        )
    finally:
        seam.control("/outage", routes=[])
    assert response.status_code == 200
    assert any(m.startswith("Seam could not start") for m in messages_of(response))
    # The choice is kept for another try.
    assert re.search(r'value="yale"[^>]* checked', response.content.decode())
    assert not ConnectWebview.objects.exists()


# --- assigning ----------------------------------------------------------------------------------


def test_bulk_assign_two_devices_to_one_listing(manager_client, org_a):
    connection = org_a.device.connection
    gate = DeviceFactory(connection=connection, name="Shared Gate")
    garage = DeviceFactory(connection=connection, name="Garage")
    response = assign(
        manager_client, connection, [gate, garage], org_a.listing, guest_access=False
    )

    assert response.status_code == 200
    assignments = LockAssignment.objects.filter(listing=org_a.listing, device__in=[gate, garage])
    assert {(a.device.name, a.role, a.guest_access) for a in assignments} == {
        ("Shared Gate", "secondary", False),
        ("Garage", "secondary", False),
    }
    assert messages_of(response) == [
        "Assigned Shared Gate, Garage to Alpha Flat as secondary (no guest codes)."
    ]


def test_a_device_may_serve_several_listings(manager_client, org_a):
    connection = org_a.device.connection
    gate = DeviceFactory(connection=connection, name="Shared Gate")
    second_flat = ListingFactory(property=org_a.property, name="Alpha Loft")
    assign(manager_client, connection, [gate], org_a.listing)
    assign(manager_client, connection, [gate], second_flat, role="primary")
    assert set(gate.assignments.values_list("listing__name", "role")) == {
        ("Alpha Flat", "secondary"),
        ("Alpha Loft", "primary"),
    }


def test_a_second_primary_lock_is_refused_with_a_message(manager_client, org_a):
    connection = org_a.device.connection
    back = DeviceFactory(connection=connection, name="Back Door")
    response = assign(manager_client, connection, [back], org_a.listing, role="primary")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Alpha Flat already has a primary lock." in html
    assert "Nothing was assigned" in html
    assert not back.assignments.exists()
    # The ticked device stays ticked for a second try.
    form = response.context["panels"][0].assign_form
    assert form.data.getlist(f"assign-{connection.pk}-devices") == [str(back.pk)]


def test_assign_refuses_another_organizations_listing(manager_client, org_a, org_b):
    connection = org_a.device.connection
    gate = DeviceFactory(connection=connection, name="Shared Gate")
    response = assign(manager_client, connection, [gate], org_b.listing)
    assert response.status_code == 200
    assert "listing" in response.context["panels"][0].assign_form.errors
    assert not gate.assignments.exists()


def test_assign_refuses_a_device_removed_at_the_provider(manager_client, org_a):
    connection = org_a.device.connection
    gone = DeviceFactory(connection=connection, name="Gone")
    gone.removed_at = gone.created_at
    gone.save()
    response = assign(manager_client, connection, [gone], org_a.listing)
    assert response.status_code == 200
    assert not gone.assignments.exists()


# --- cost ---------------------------------------------------------------------------------------


def grow(org, devices: int, connections: int) -> None:
    for number in range(connections):
        connection = ConnectionFactory(organization=org.organization)
        for _ in range(devices // connections):
            LockAssignmentFactory(
                listing=ListingFactory(property=org.property),
                device=DeviceFactory(connection=connection),
            )
        connection.accounts.create(provider_account_id=f"acct-{number}", display_name="August")


def count_page_queries(client) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        page_text(client)
    return len(captured.captured_queries)


def test_query_count_does_not_grow_with_devices_or_connections(
    manager_client, org_a, django_assert_max_num_queries
):
    grow(org_a, devices=2, connections=1)
    small = count_page_queries(manager_client)

    grow(org_a, devices=28, connections=4)
    assert Device.objects.filter(organization=org_a.organization).count() >= 30
    with django_assert_max_num_queries(small):
        page_text(manager_client)


def test_the_admin_index_tells_staff_what_they_can_do_there(manager_client, client, org_a):
    page = manager_client.get(reverse("admin:index")).content.decode()
    assert "Connect Seam workspaces, import locks and entrances, assign them" in page
    client.force_login(org_a.staff)
    page = client.get(reverse("admin:index")).content.decode()
    assert "Connect Seam workspaces" not in page
    assert "a manager connects and assigns them" in page
