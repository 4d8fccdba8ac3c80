"""The import's confirm step processes only the upload its person previewed (issue 13 #3).

It used to trust a file name sent back by the browser: any file of the server's temporary
folder could be read, imported, shown in an error and deleted.
"""

import tempfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from properties.models import Listing
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

IMPORT_URL = reverse("admin:properties_listing_import")
PROCESS_URL = reverse("admin:properties_listing_process_import")
SECRET = "property,name,external_id,SECRET-FIRST-LINE-4f1c"


def preview(client, external_id="L-1"):
    data = f"property,name,external_id\r\nAlpha House,Loft,{external_id}\r\n".encode()
    response = client.post(
        IMPORT_URL, {"import_file": SimpleUploadedFile("listings.csv", data), "format": "csv"}
    )
    assert response.status_code == 200
    return response.context["upload_key"]


@pytest.fixture
def secret_file():
    """A file of the server's temporary folder, in the shape of a listing file."""
    with tempfile.NamedTemporaryFile(
        "w", suffix=".csv", delete=False, dir=tempfile.gettempdir()
    ) as handle:
        handle.write(SECRET + "\r\nAlpha House,Stolen,STOLEN-1,x\r\n")
    path = Path(handle.name)
    yield path
    path.unlink(missing_ok=True)


def refused(response, client) -> str:
    assert response.status_code == 302
    assert response.url == IMPORT_URL
    page = client.get(response.url)
    text = page.content.decode()
    assert "not waiting for your confirmation" in text
    return text


@pytest.mark.parametrize(
    "posted",
    [
        pytest.param(lambda path: {"key": path.name}, id="temp-file-name-as-key"),
        pytest.param(lambda path: {"key": str(path)}, id="absolute-path"),
        pytest.param(lambda path: {"key": f"../{path.name}"}, id="relative-path"),
        pytest.param(
            lambda path: {"import_file_name": path.name, "original_file_name": "x.csv"},
            id="old-style-file-name",
        ),
        pytest.param(lambda path: {}, id="nothing"),
        pytest.param(lambda path: {"key": ""}, id="empty-key"),
        pytest.param(lambda path: {"key": "A" * 43}, id="well-formed-unknown-key"),
    ],
)
def test_a_crafted_confirm_touches_no_file_and_shows_nothing_of_it(
    manager_client, org_a, secret_file, posted
):
    before = secret_file.read_bytes()

    response = manager_client.post(
        PROCESS_URL, {"confirm": "Confirm import", **posted(secret_file)}
    )

    text = refused(response, manager_client)
    assert "SECRET-FIRST-LINE" not in text
    assert secret_file.read_bytes() == before  # neither read into an import nor deleted
    assert not Listing.objects.filter(external_id="STOLEN-1").exists()


def test_another_persons_key_is_refused_and_stays_theirs(manager_client, org_a):
    other = UserFactory(username="alpha-other-manager")
    MembershipFactory(organization=org_a.organization, user=other)
    their_client = Client()
    their_client.force_login(other)
    their_key = preview(their_client, external_id="THEIRS")

    response = manager_client.post(PROCESS_URL, {"key": their_key})

    refused(response, manager_client)
    assert not Listing.objects.filter(external_id="THEIRS").exists()
    # Their upload was not touched: they confirm it themselves.
    assert their_client.post(PROCESS_URL, {"key": their_key}).status_code == 302
    assert Listing.objects.get(external_id="THEIRS").organization == org_a.organization


def test_a_key_is_confirmed_once(manager_client, org_a):
    key = preview(manager_client)

    first = manager_client.post(PROCESS_URL, {"key": key})
    second = manager_client.post(PROCESS_URL, {"key": key})

    assert first.status_code == 302 and first.url != IMPORT_URL
    refused(second, manager_client)
    assert Listing.objects.filter(external_id="L-1").count() == 1


def test_a_key_previewed_for_an_organization_no_longer_managed_is_refused(manager_client, org_a):
    key = preview(manager_client)
    org_a.manager.memberships.update(role="staff")

    response = manager_client.post(PROCESS_URL, {"key": key})

    assert response.status_code == 403
    assert not Listing.objects.filter(external_id="L-1").exists()
