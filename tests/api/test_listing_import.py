"""POST /api/v1/listings/import/: the listing import for PMS integrations."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from properties.models import Listing
from tests.api.conftest import session_client
from tests.factories import DeviceFactory, MembershipFactory, UserFactory
from tests.listing_files import BAD, good, listings_state

pytestmark = pytest.mark.django_db

URL = "/api/v1/listings/import/"


@pytest.fixture
def gate(org_a):
    return DeviceFactory(connection=org_a.device.connection, name="Alpha Gate")


def post(client, data: bytes, name="listings.csv", **fields):
    return client.post(URL, {"file": SimpleUploadedFile(name, data), **fields}, format="multipart")


def test_api_import_answers_per_row_actions(manager_api, org_a, gate):
    response = post(manager_api, good(org_a))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["written"] is True and body["dry_run"] is False
    assert body["organization"] == org_a.organization.pk
    assert body["totals"] == {"new": 1, "update": 1, "skip": 0}
    assert body["rows"][0] == {
        "row": 2,
        "external_id": org_a.listing.external_id,
        "action": "update",
        "changes": {"check_in_time": "16:00", "secondary_locks": "Alpha Gate"},
    }
    assert body["rows"][1]["action"] == "new"
    assert body["errors"] == []
    assert Listing.objects.get(external_id="LOFT-1").organization == org_a.organization


def test_api_dry_run_writes_nothing(manager_api, org_a, gate):
    before = listings_state()
    response = post(manager_api, good(org_a), dry_run="true")
    assert response.status_code == 200
    assert response.json()["written"] is False
    assert [row["action"] for row in response.json()["rows"]] == ["update", "new"]
    assert listings_state() == before


def test_api_errors_are_a_400_with_row_column_and_message(manager_api, org_a):
    before = listings_state()

    response = post(manager_api, BAD.encode())

    assert response.status_code == 400
    body = response.json()
    assert body["written"] is False and body["rows"] == []
    assert [(e["row"], e["column"]) for e in body["errors"]] == [
        (3, "name"),
        (3, "check_in_time"),
    ]
    assert "is not a time of day" in body["errors"][1]["message"]
    assert listings_state() == before


def test_api_import_is_for_managers_only(staff_api, org_a):
    before = listings_state()
    assert post(staff_api, good(org_a)).status_code == 403
    assert listings_state() == before


def test_api_import_stays_in_the_callers_organization(manager_api, org_a, org_b):
    bravo_before = list(Listing.objects.filter(organization=org_b.organization).values())
    data = (
        "property,name,external_id,primary_lock\r\n"
        f"Alpha House,Taken,{org_b.listing.external_id},{org_b.device.name}\r\n"
    ).encode()

    # Another organization's id is not among the caller's choices.
    crafted = post(manager_api, data, organization=org_b.organization.pk)
    assert crafted.status_code == 400
    assert "organization" in crafted.json()

    # Bravo's external id is a new listing of Alpha's; Bravo's device is unknown to Alpha.
    response = post(manager_api, data)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "row": 2,
            "column": "primary_lock",
            "message": "Alpha has no device named “Bravo Front Door”. Write the name exactly "
            "as the Devices page shows it.",
        }
    ]
    assert list(Listing.objects.filter(organization=org_b.organization).values()) == bravo_before


def test_api_manager_of_several_organizations_chooses_one(org_a, org_b):
    person = UserFactory(username="both")
    MembershipFactory(organization=org_a.organization, user=person)
    MembershipFactory(organization=org_b.organization, user=person)
    client = session_client(person)
    data = b"property,name,external_id\r\nBravo House,Loft,L-1\r\n"

    assert "organization" in post(client, data).json()

    response = post(client, data, organization=org_b.organization.pk)
    assert response.status_code == 200
    assert Listing.objects.get(external_id="L-1").organization == org_b.organization


def test_api_unreadable_file_is_a_400(manager_api, org_a):
    response = post(manager_api, b"not a workbook", name="listings.xlsx")
    assert response.status_code == 400
    assert response.json()["errors"][0]["row"] is None
