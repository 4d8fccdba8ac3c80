"""/api/v1/alerts/: lock alerts as work items, scoped like everything else."""

import datetime

import pytest
from django.utils import timezone

from locks.models import LockAssignment
from reservations.models import DeviceAlert
from tests.api.conftest import key_client
from tests.factories import DeviceFactory, ListingFactory

pytestmark = pytest.mark.django_db

Kind = DeviceAlert.Kind


def alert(org, kind=Kind.OFFLINE, *, device=None, resolved=False, **fields):
    now = timezone.now()
    device = device or org.device
    return DeviceAlert.objects.create(
        organization_id=device.organization_id,
        device=device,
        kind=kind,
        opened_at=now - datetime.timedelta(hours=1),
        resolved_at=now if resolved else None,
        resolution="Lock back online." if resolved else "",
        **fields,
    )


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_open_alerts_by_default_resolved_or_all_on_request(manager_api, org_a):
    open_one = alert(org_a)
    done = alert(org_a, Kind.LOW_BATTERY, resolved=True)
    assert ids(manager_api.get("/api/v1/alerts/")) == {open_one.pk}
    assert ids(manager_api.get("/api/v1/alerts/", {"state": "resolved"})) == {done.pk}
    assert ids(manager_api.get("/api/v1/alerts/", {"state": "all"})) == {open_one.pk, done.pk}
    assert manager_api.get("/api/v1/alerts/", {"state": "nope"}).status_code == 400
    row = manager_api.get(f"/api/v1/alerts/{done.pk}/").json()  # found by id when resolved
    assert row["state"] == "resolved" and row["resolution"] == "Lock back online."


def test_filters_by_listing_and_kind(manager_api, org_a):
    at_listing = alert(org_a)  # org_a.device is assigned to org_a.listing
    elsewhere = ListingFactory(property=org_a.property)
    other_lock = DeviceFactory(connection=org_a.device.connection, name="Shed")
    LockAssignment.objects.create(listing=elsewhere, device=other_lock)
    elsewhere_alert = alert(org_a, Kind.LOW_BATTERY, device=other_lock)
    # A failed code of a stay at the listing, on a lock the listing no longer uses.
    stays_alert = alert(org_a, Kind.CODE_FAILED, device=other_lock, reservation=org_a.reservation)
    listing = manager_api.get("/api/v1/alerts/", {"listing": org_a.listing.pk})
    assert ids(listing) == {at_listing.pk, stays_alert.pk}
    by_kind = manager_api.get("/api/v1/alerts/", {"kind": Kind.LOW_BATTERY})
    assert ids(by_kind) == {elsewhere_alert.pk}


def test_acknowledge_records_who_and_when_once(staff_api, org_a):
    one = alert(org_a)
    response = staff_api.post(f"/api/v1/alerts/{one.pk}/acknowledge/")
    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "acknowledged" and body["acknowledged_at"]
    assert body["acknowledged_by"]  # the key's label
    first = body["acknowledged_at"]
    again = staff_api.post(f"/api/v1/alerts/{one.pk}/acknowledge/").json()
    assert again["acknowledged_at"] == first
    one.refresh_from_db()
    assert one.is_open and one.acknowledged_by is None  # a key is no user


def test_acknowledging_a_vacant_unlock_resolves_it(manager_api, org_a):
    one = alert(org_a, Kind.VACANT_UNLOCK, access_code_id="evt_1")
    body = manager_api.post(f"/api/v1/alerts/{one.pk}/acknowledge/").json()
    assert body["state"] == "resolved" and body["resolution"].startswith("Acknowledged by")


def test_another_organizations_key_sees_and_acknowledges_nothing(other_api, org_a, org_b):
    theirs = alert(org_a)
    mine = alert(org_b)
    assert ids(other_api.get("/api/v1/alerts/", {"state": "all"})) == {mine.pk}
    assert other_api.get(f"/api/v1/alerts/{theirs.pk}/").status_code == 404
    assert other_api.post(f"/api/v1/alerts/{theirs.pk}/acknowledge/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.acknowledged_at is None
    listing = other_api.get("/api/v1/alerts/", {"listing": org_a.listing.pk})
    assert ids(listing) == set()


def test_alerts_are_read_only(manager_api, org_a):
    one = alert(org_a)
    assert manager_api.post("/api/v1/alerts/", {}, format="json").status_code == 405
    assert manager_api.patch(f"/api/v1/alerts/{one.pk}/", {}, format="json").status_code == 405
    assert manager_api.delete(f"/api/v1/alerts/{one.pk}/").status_code == 405


def test_a_signed_in_person_acknowledging_is_recorded_as_them(org_a):
    from tests.api.conftest import session_client

    one = alert(org_a)
    response = session_client(org_a.staff).post(f"/api/v1/alerts/{one.pk}/acknowledge/")
    assert response.status_code == 200
    one.refresh_from_db()
    assert one.acknowledged_by == org_a.staff


def test_the_schema_documents_the_alerts(manager_api):
    schema = manager_api.get("/api/schema/", {"format": "json"}).json()
    assert "/api/v1/alerts/" in schema["paths"]
    assert "post" in schema["paths"]["/api/v1/alerts/{id}/acknowledge/"]
    names = {p["name"] for p in schema["paths"]["/api/v1/alerts/"]["get"]["parameters"]}
    assert {"state", "listing", "kind"} <= names


def test_a_staff_key_of_the_organization_may_acknowledge(org_a):
    one = alert(org_a)
    client = key_client(org_a.organization, "staff", name="Ops")
    assert client.post(f"/api/v1/alerts/{one.pk}/acknowledge/").status_code == 200
