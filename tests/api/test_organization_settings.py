"""Properties, listings, devices and lock assignments through the API."""

import datetime

import pytest

from locks.models import Device, LockAssignment
from properties.models import Listing, Membership, Property
from reservations.models import LockAccess
from reservations.services import reservation_replan
from tests.factories import DeviceFactory, ListingFactory, MembershipFactory

from .conftest import session_client

pytestmark = pytest.mark.django_db

PROPERTIES = "/api/v1/properties/"
LISTINGS = "/api/v1/listings/"
DEVICES = "/api/v1/devices/"
ASSIGNMENTS = "/api/v1/assignments/"


def detail(collection: str, pk) -> str:
    return f"{collection}{pk}/"


# Properties ---------------------------------------------------------------------------


def test_a_manager_creates_a_property_in_their_organization(manager_api, org_a):
    response = manager_api.post(
        PROPERTIES,
        {"name": "Dune Lodge", "address": "2 Sand Road", "timezone": "Europe/Madrid"},
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == {
        "id",
        "organization",
        "name",
        "address",
        "timezone",
        "check_in_time",
        "check_out_time",
    }
    assert body["organization"] == org_a.organization.pk
    assert (body["check_in_time"], body["check_out_time"]) == ("15:00", "11:00")
    assert Property.objects.get(pk=body["id"]).time_zone == "Europe/Madrid"


def test_property_validation_errors_name_their_field(manager_api, org_a):
    bad_zone = manager_api.post(PROPERTIES, {"name": "X", "timezone": "Mars/Olympus"})
    assert bad_zone.status_code == 400
    assert "IANA" in bad_zone.json()["timezone"][0]
    taken = manager_api.post(PROPERTIES, {"name": org_a.property.name, "timezone": "UTC"})
    assert taken.status_code == 400 and "name" in taken.json()
    bad_time = manager_api.post(
        PROPERTIES, {"name": "Y", "timezone": "UTC", "check_in_time": "25:00"}
    )
    assert bad_time.status_code == 400 and "check_in_time" in bad_time.json()
    assert Property.objects.count() == 1


def test_a_manager_of_two_organizations_chooses_one(manager_api, org_a, org_b):
    # Signed in, a person acts in all their organizations (an API key in its one only).
    MembershipFactory(organization=org_b.organization, user=org_a.manager)
    person = session_client(org_a.manager)
    response = person.post(PROPERTIES, {"name": "Z", "timezone": "UTC"})
    assert response.status_code == 400 and "organization" in response.json()
    chosen = person.post(
        PROPERTIES, {"name": "Z", "timezone": "UTC", "organization": org_b.organization.pk}
    )
    assert chosen.status_code == 201
    assert Property.objects.get(name="Z").organization == org_b.organization


def test_a_property_cannot_be_created_in_another_organization(manager_api, org_b):
    response = manager_api.post(
        PROPERTIES, {"name": "Z", "timezone": "UTC", "organization": org_b.organization.pk}
    )
    assert response.status_code == 400
    assert "does not exist" in response.json()["organization"][0]


def test_another_organizations_property_is_404_for_every_method(manager_api, org_b):
    url = detail(PROPERTIES, org_b.property.pk)
    assert manager_api.get(url).status_code == 404
    assert manager_api.patch(url, {"name": "Mine now"}).status_code == 404
    assert manager_api.delete(url).status_code == 404
    assert Property.objects.get(pk=org_b.property.pk).name == org_b.property.name


def test_staff_read_properties_but_cannot_change_them(staff_api, org_a):
    assert staff_api.get(detail(PROPERTIES, org_a.property.pk)).status_code == 200
    assert staff_api.post(PROPERTIES, {"name": "Z", "timezone": "UTC"}).status_code == 403
    response = staff_api.patch(detail(PROPERTIES, org_a.property.pk), {"name": "Renamed"})
    assert response.status_code == 403


def test_a_property_with_listings_cannot_be_deleted(manager_api, org_a):
    response = manager_api.delete(detail(PROPERTIES, org_a.property.pk))
    assert response.status_code == 409
    assert Property.objects.filter(pk=org_a.property.pk).exists()


def test_properties_filter_and_order(manager_api, org_a):
    Property.objects.create(organization=org_a.organization, name="Bay View", time_zone="UTC")
    names = [
        p["name"] for p in manager_api.get(PROPERTIES, {"ordering": "-name"}).json()["results"]
    ]
    assert names == ["Bay View", "Alpha House"]
    found = manager_api.get(PROPERTIES, {"name": "bay"}).json()["results"]
    assert [p["name"] for p in found] == ["Bay View"]


# Listings -----------------------------------------------------------------------------


def test_a_listing_reads_with_the_contract_fields(manager_api, org_a):
    body = manager_api.get(detail(LISTINGS, org_a.listing.pk)).json()
    for name in [
        "id",
        "property",
        "name",
        "external_id",
        "lead_time_minutes",
        "buffer_before_minutes",
        "buffer_after_minutes",
        "code_length",
        "code_style",
        "active",
    ]:
        assert name in body
    assert body["external_id"] == org_a.listing.external_id


def test_a_manager_creates_a_listing(manager_api, org_a):
    response = manager_api.post(
        LISTINGS,
        {
            "property": org_a.property.pk,
            "name": "Loft",
            "external_id": "PMS-77",
            "lead_time_minutes": 120,
            "buffer_before_minutes": 30,
            "code_length": 6,
            "code_style": "phone",
        },
    )
    assert response.status_code == 201, response.json()
    listing = Listing.objects.get(pk=response.json()["id"])
    assert listing.organization == org_a.organization
    assert listing.code_lead_time_minutes == 120 and listing.code_style == "phone"


def test_listing_validation_errors_name_their_field(manager_api, org_a, org_b):
    base = {"property": org_a.property.pk, "name": "Loft"}
    cases = [
        ({"external_id": org_a.listing.external_id}, "external_id"),
        ({"property": org_b.property.pk}, "property"),
        ({"code_length": 3}, "code_length"),
        ({"code_style": "emoji"}, "code_style"),
        ({"lead_time_minutes": 7 * 24 * 60 + 1}, "lead_time_minutes"),
        ({"buffer_after_minutes": -5}, "buffer_after_minutes"),
    ]
    for change, field in cases:
        response = manager_api.post(LISTINGS, {**base, **change})
        assert response.status_code == 400, change
        assert field in response.json(), (change, response.json())
    assert Listing.objects.count() == 2


def test_a_listing_is_found_by_its_external_id(manager_api, org_a, org_b):
    url = f"{LISTINGS}by-external-id/{org_a.listing.external_id}/"
    assert manager_api.get(url).json()["id"] == org_a.listing.pk
    theirs = f"{LISTINGS}by-external-id/{org_b.listing.external_id}/"
    assert manager_api.get(theirs).status_code == 404
    filtered = manager_api.get(LISTINGS, {"external_id": org_a.listing.external_id}).json()
    assert [row["id"] for row in filtered["results"]] == [org_a.listing.pk]


def test_changing_a_listings_buffers_moves_the_code_windows(manager_api, org_a):
    reservation = org_a.reservation
    reservation_replan(reservation=reservation)
    access = LockAccess.objects.get(reservation=reservation)
    assert access.starts_at == reservation.check_in
    response = manager_api.patch(detail(LISTINGS, org_a.listing.pk), {"buffer_before_minutes": 60})
    assert response.status_code == 200
    access.refresh_from_db()
    assert access.starts_at == reservation.check_in - datetime.timedelta(minutes=60)


def test_a_listing_with_reservations_cannot_be_deleted(manager_api, org_a):
    assert manager_api.delete(detail(LISTINGS, org_a.listing.pk)).status_code == 409
    empty = ListingFactory(property=org_a.property)
    assert manager_api.delete(detail(LISTINGS, empty.pk)).status_code == 204


def test_another_organizations_listing_is_404(manager_api, org_b):
    url = detail(LISTINGS, org_b.listing.pk)
    assert manager_api.get(url).status_code == 404
    assert manager_api.put(url, {"property": org_b.property.pk, "name": "X"}).status_code == 404


# Devices ------------------------------------------------------------------------------


def test_devices_read_with_kind_provider_id_and_state(manager_api, org_a):
    entrance = DeviceFactory(
        connection=org_a.device.connection,
        name="Lobby",
        kind=Device.Kind.ACS_ENTRANCE,
        provider_device_id="acs_entrance_1",
        online=False,
        battery_level=None,
    )
    rows = {d["name"]: d for d in manager_api.get(DEVICES).json()["results"]}
    assert rows["Lobby"] == {
        "id": entrance.pk,
        "name": "Lobby",
        "kind": "entrance",
        "provider_device_id": "acs_entrance_1",
        "online": False,
        "battery_level": None,
        "removed": False,
        "connection": org_a.device.connection_id,
        "manufacturer": "August",
        "model": "Wi-Fi Smart Lock",
    }
    assert rows[org_a.device.name]["kind"] == "lock"
    only = manager_api.get(DEVICES, {"kind": "entrance"}).json()["results"]
    assert [d["name"] for d in only] == ["Lobby"]


def test_devices_are_read_only_and_scoped(manager_api, org_a, org_b):
    assert manager_api.get(detail(DEVICES, org_b.device.pk)).status_code == 404
    assert manager_api.post(DEVICES, {"name": "X"}).status_code == 405
    assert manager_api.delete(detail(DEVICES, org_a.device.pk)).status_code == 405
    listed = manager_api.get(DEVICES, {"listing": org_a.listing.pk}).json()["results"]
    assert [d["id"] for d in listed] == [org_a.device.pk]


# Assignments --------------------------------------------------------------------------


def test_an_assignment_reads_with_the_contract_fields(manager_api, org_a):
    body = manager_api.get(detail(ASSIGNMENTS, org_a.assignment.pk)).json()
    assert body == {
        "id": org_a.assignment.pk,
        "listing": org_a.listing.pk,
        "device": org_a.device.pk,
        "role": "primary",
        "guest_access": True,
        "staff_access": False,
        "label": "",
    }


def test_assigning_a_lock_puts_the_stays_code_on_it_too(manager_api, org_a):
    reservation_replan(reservation=org_a.reservation)
    gate = DeviceFactory(connection=org_a.device.connection, name="Gate")
    response = manager_api.post(
        ASSIGNMENTS, {"listing": org_a.listing.pk, "device": gate.pk, "guest_access": True}
    )
    assert response.status_code == 201, response.json()
    assert response.json()["role"] == "secondary"
    assert LockAccess.objects.filter(reservation=org_a.reservation, device=gate).exists()


def test_a_second_primary_lock_is_a_role_error(manager_api, org_a):
    gate = DeviceFactory(connection=org_a.device.connection)
    response = manager_api.post(
        ASSIGNMENTS, {"listing": org_a.listing.pk, "device": gate.pk, "role": "primary"}
    )
    assert response.status_code == 400
    assert response.json() == {"role": ["This listing already has a primary lock."]}
    second = LockAssignment.objects.create(listing=org_a.listing, device=gate)
    promote = manager_api.patch(detail(ASSIGNMENTS, second.pk), {"role": "primary"})
    assert promote.status_code == 400 and "role" in promote.json()


def test_a_device_of_another_organization_is_a_device_error(manager_api, org_a, org_b):
    response = manager_api.post(
        ASSIGNMENTS, {"listing": org_a.listing.pk, "device": org_b.device.pk}
    )
    assert response.status_code == 400
    assert "does not exist" in response.json()["device"][0]
    # Even where the caller manages both organizations, a device stays with its own.
    MembershipFactory(organization=org_b.organization, user=org_a.manager)
    client = session_client(org_a.manager)
    response = client.post(ASSIGNMENTS, {"listing": org_a.listing.pk, "device": org_b.device.pk})
    assert response.status_code == 400
    assert "another organization" in response.json()["device"][0]
    assert LockAssignment.objects.count() == 2


def test_a_device_removed_at_the_provider_or_already_assigned_is_refused(manager_api, org_a):
    assigned = manager_api.post(
        ASSIGNMENTS, {"listing": org_a.listing.pk, "device": org_a.device.pk}
    )
    assert assigned.status_code == 400 and "already assigned" in assigned.json()["device"][0]
    gone = DeviceFactory(
        connection=org_a.device.connection,
        removed_at=datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC),
    )
    removed = manager_api.post(ASSIGNMENTS, {"listing": org_a.listing.pk, "device": gone.pk})
    assert removed.status_code == 400 and "removed" in removed.json()["device"][0]


def test_switching_guest_access_off_takes_the_code_off_that_lock(manager_api, org_a):
    reservation_replan(reservation=org_a.reservation)
    response = manager_api.patch(detail(ASSIGNMENTS, org_a.assignment.pk), {"guest_access": False})
    assert response.status_code == 200
    access = LockAccess.objects.get(reservation=org_a.reservation, device=org_a.device)
    assert not access.wanted and access.reason == LockAccess.Reason.NO_GUEST_ACCESS


def test_deleting_an_assignment_revokes_its_codes(manager_api, org_a):
    reservation_replan(reservation=org_a.reservation)
    assert manager_api.delete(detail(ASSIGNMENTS, org_a.assignment.pk)).status_code == 204
    access = LockAccess.objects.get(reservation=org_a.reservation, device=org_a.device)
    assert not access.wanted and access.state == LockAccess.State.REVOKED


def test_an_assignment_cannot_move_to_another_lock(manager_api, org_a):
    gate = DeviceFactory(connection=org_a.device.connection)
    response = manager_api.put(
        detail(ASSIGNMENTS, org_a.assignment.pk),
        {"listing": org_a.listing.pk, "device": gate.pk, "role": "primary"},
    )
    assert response.status_code == 400 and "device" in response.json()


def test_staff_read_assignments_but_cannot_change_them(staff_api, org_a, org_b):
    assert staff_api.get(ASSIGNMENTS).json()["count"] == 1
    gate = DeviceFactory(connection=org_a.device.connection)
    response = staff_api.post(ASSIGNMENTS, {"listing": org_a.listing.pk, "device": gate.pk})
    assert response.status_code == 403
    assert staff_api.get(detail(ASSIGNMENTS, org_b.assignment.pk)).status_code == 404


def test_a_staff_member_who_manages_another_organization_still_cannot_change_this_one(
    org_a, org_b
):
    MembershipFactory(
        organization=org_b.organization, user=org_a.staff, role=Membership.Role.MANAGER
    )
    client = session_client(org_a.staff)
    response = client.patch(detail(LISTINGS, org_a.listing.pk), {"name": "Mine"})
    assert response.status_code == 403
