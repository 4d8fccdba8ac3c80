"""Lock provider connections through the API, against Seam's fake server."""

import pytest

from locks.models import Device, LockProviderConnection

pytestmark = pytest.mark.django_db

CONNECTIONS = "/api/v1/connections/"


@pytest.fixture
def seam(fake_seam):
    fake_seam.reset()
    return fake_seam


def sync_url(connection) -> str:
    return f"{CONNECTIONS}{connection.pk}/sync/"


def test_a_connection_is_created_with_a_key_that_is_never_shown_again(manager_api, org_a, seam):
    response = manager_api.post(
        CONNECTIONS, {"name": "Harbour Seam", "api_key": seam.api_key, "endpoint": seam.url}
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert "api_key" not in body
    assert seam.api_key not in response.content.decode()
    assert body["masked_api_key"] == f"••••{seam.api_key[-4:]}"
    assert body["organization"] == org_a.organization.pk and body["workspace_id"]
    connection = LockProviderConnection.objects.get(pk=body["id"])
    assert connection.api_key == seam.api_key
    for url in (CONNECTIONS, f"{CONNECTIONS}{connection.pk}/"):
        page = manager_api.get(url).content.decode()
        assert seam.api_key not in page and connection.api_key_ciphertext not in page


def test_a_key_seam_refuses_is_an_api_key_error_and_nothing_is_saved(manager_api, seam):
    response = manager_api.post(
        CONNECTIONS, {"name": "Harbour Seam", "api_key": "seam_bad_key_0000", "endpoint": seam.url}
    )
    assert response.status_code == 400
    assert response.json() == {"api_key": ["Seam refused the API key."]}
    assert "seam_bad_key_0000" not in response.content.decode()
    assert not LockProviderConnection.objects.filter(name="Harbour Seam").exists()


def test_seam_unreachable_is_a_503_and_nothing_is_saved(manager_api, seam):
    seam.control("/outage", routes=["/devices/list"])
    try:
        response = manager_api.post(
            CONNECTIONS, {"name": "Harbour Seam", "api_key": seam.api_key, "endpoint": seam.url}
        )
    finally:
        seam.control("/outage", routes=[])
    assert response.status_code == 503
    assert "detail" in response.json()
    assert not LockProviderConnection.objects.filter(name="Harbour Seam").exists()


def test_connection_validation_errors_name_their_field(manager_api, org_a):
    taken = org_a.device.connection.name
    response = manager_api.post(CONNECTIONS, {"name": taken, "api_key": "seam_x"})
    assert response.status_code == 400 and "name" in response.json()
    assert manager_api.post(CONNECTIONS, {"name": "X"}).json() == {
        "api_key": ["This field is required."]
    }
    bad_endpoint = manager_api.post(
        CONNECTIONS, {"name": "X", "api_key": "seam_x", "endpoint": "not a url"}
    )
    assert bad_endpoint.status_code == 400 and "endpoint" in bad_endpoint.json()


def test_sync_imports_devices_now_and_returns_the_counts(manager_api, org_a, seam):
    created = manager_api.post(
        CONNECTIONS, {"name": "Harbour Seam", "api_key": seam.api_key, "endpoint": seam.url}
    )
    connection = LockProviderConnection.objects.get(pk=created.json()["id"])
    first = manager_api.post(sync_url(connection))
    assert first.status_code == 200
    counts = first.json()
    assert set(counts) == {"created", "updated", "unchanged", "removed", "restored"}
    imported = Device.objects.filter(connection=connection)
    assert counts["created"] == imported.count() > 0
    again = manager_api.post(sync_url(connection)).json()
    assert again["created"] == 0 and again["unchanged"] == imported.count()
    kinds = {d["kind"] for d in manager_api.get("/api/v1/devices/").json()["results"]}
    assert kinds == {"lock", "entrance"}


def test_sync_during_an_outage_is_a_503_and_keeps_the_devices(manager_api, org_a, seam):
    created = manager_api.post(
        CONNECTIONS, {"name": "Harbour Seam", "api_key": seam.api_key, "endpoint": seam.url}
    )
    connection = LockProviderConnection.objects.get(pk=created.json()["id"])
    manager_api.post(sync_url(connection))
    before = connection.devices.count()
    seam.control("/outage", routes=["/locks/list", "/devices/list"])
    try:
        response = manager_api.post(sync_url(connection))
    finally:
        seam.control("/outage", routes=[])
    assert response.status_code == 503
    assert connection.devices.filter(removed_at__isnull=True).count() == before
    connection.refresh_from_db()
    assert connection.sync_state == LockProviderConnection.SyncState.FAILED


def test_another_organizations_connection_is_404_and_staff_cannot_sync(
    manager_api, staff_api, org_a, org_b
):
    theirs = org_b.device.connection
    assert manager_api.get(f"{CONNECTIONS}{theirs.pk}/").status_code == 404
    assert manager_api.post(sync_url(theirs)).status_code == 404
    mine = org_a.device.connection
    assert staff_api.get(f"{CONNECTIONS}{mine.pk}/").status_code == 200
    assert staff_api.post(sync_url(mine)).status_code == 403
    assert staff_api.post(CONNECTIONS, {"name": "X", "api_key": "k"}).status_code == 403
