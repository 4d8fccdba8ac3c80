"""The confirm writes the plan its preview made, as long as nothing it read has changed.

Reading and checking a 10,000-row file again took half of the confirm's time. The preview
keeps its plan, signed, beside the upload; the confirm writes it after making sure, in
the write transaction, that the organization still has what the preview read. Anything
else (a change since, a plan not signed by Keystay, a plan of another file or
organization) and the file is read and checked again, as before.
"""

import stat
import tempfile
from pathlib import Path
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from locks import listing_import
from locks.listing_import import dump_plan, import_listings
from properties.models import Listing
from tests.factories import ListingFactory

pytestmark = pytest.mark.django_db

IMPORT_URL = reverse("admin:properties_listing_import")
PROCESS_URL = reverse("admin:properties_listing_process_import")
FILE = (
    b"property,time_zone,name,external_id,check_in_time,primary_lock\r\n"
    b"Alpha House,,Loft,LOFT-1,16:30,Alpha Front Door\r\n"
    b"Alpha House,,Flat,FLAT-1,,\r\n"
)


@pytest.fixture(params=[False, True], ids=["uploads-in-folder", "uploads-in-cache"])
def uploads(request, settings):
    settings.LISTING_IMPORT_UPLOADS_IN_CACHE = request.param
    return request.param


def preview(client, data=FILE) -> str:
    response = client.post(
        IMPORT_URL, {"import_file": SimpleUploadedFile("listings.csv", data), "format": "csv"}
    )
    assert response.status_code == 200
    assert response.context["problems"] == []
    return response.context["upload_key"]


def confirm(client, key):
    response = client.post(PROCESS_URL, {"key": key})
    assert response.status_code == 302
    return response


def messages_after(client, response) -> list[str]:
    return [str(m) for m in client.get(response.url).context["messages"]]


def test_confirm_writes_the_previewed_plan_without_checking_the_file_again(
    manager_client, org_a, uploads
):
    key = preview(manager_client)

    with mock.patch.object(
        listing_import, "plan_import", wraps=listing_import.plan_import
    ) as planned:
        response = confirm(manager_client, key)

    assert planned.call_count == 0
    assert "Import finished: 2 new, 0 updated, 0 unchanged listings." in messages_after(
        manager_client, response
    )
    loft = Listing.objects.get(external_id="LOFT-1")
    assert (loft.organization, loft.property, loft.name) == (
        org_a.organization,
        org_a.property,
        "Loft",
    )
    assert str(loft.check_in_time) == "16:30:00"
    assert [(a.device, a.role) for a in loft.assignments.all()] == [(org_a.device, "primary")]
    assert Listing.objects.get(external_id="FLAT-1").assignments.count() == 0


def test_a_listing_added_between_preview_and_confirm_is_updated_not_duplicated(
    manager_client, org_a, uploads
):
    key = preview(manager_client)  # LOFT-1 is new here
    ListingFactory(property=org_a.property, name="Loft by hand", external_id="LOFT-1")

    response = confirm(manager_client, key)

    assert "Import finished: 1 new, 1 updated, 0 unchanged listings." in messages_after(
        manager_client, response
    )
    loft = Listing.objects.get(external_id="LOFT-1")
    assert loft.name == "Loft"
    assert [(a.device, a.role) for a in loft.assignments.all()] == [(org_a.device, "primary")]


def test_a_kept_plan_changed_outside_keystay_is_not_trusted(manager_client, org_a, settings):
    settings.LISTING_IMPORT_UPLOADS_IN_CACHE = False
    key = preview(manager_client)
    kept = Path(tempfile.gettempdir()) / "keystay-listing-imports" / f"{key}.plan"
    text = kept.read_text()
    assert '"Loft"' in text
    kept.write_text(text.replace('"Loft"', '"Forged"'))  # the signature no longer fits

    confirm(manager_client, key)

    assert Listing.objects.get(external_id="LOFT-1").name == "Loft"  # read from the file


def test_a_plan_kept_for_another_file_or_organization_is_not_used(org_a, org_b):
    planned = import_listings(
        organization=org_a.organization, data=FILE, file_format="csv", dry_run=True
    )
    kept = dump_plan(planned.plan, data=FILE, file_format="csv")
    other_file = FILE.replace(b"Loft", b"Studio")

    result = import_listings(
        organization=org_a.organization, data=other_file, file_format="csv", kept_plan=kept
    )
    assert result.written
    assert Listing.objects.get(external_id="LOFT-1").name == "Studio"

    # Alpha's plan, confirmed into Bravo: the file is read for Bravo, which has no
    # "Alpha House" (the plan would have written Alpha's property into Bravo).
    result = import_listings(
        organization=org_b.organization, data=FILE, file_format="csv", kept_plan=kept
    )
    assert not result.written
    assert [(p.column, p.message[:30]) for p in result.problems][:1] == [
        ("property", "“Alpha House” is a new propert")
    ]
    assert (
        not Listing.objects.filter(organization=org_b.organization)
        .exclude(pk=org_b.listing.pk)
        .exists()
    )


def test_a_waiting_upload_is_readable_by_this_servers_user_alone(manager_client, org_a, settings):
    settings.LISTING_IMPORT_UPLOADS_IN_CACHE = False
    key = preview(manager_client)
    folder = Path(tempfile.gettempdir()) / "keystay-listing-imports"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in (key, f"{key}.plan"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    confirm(manager_client, key)
    assert not (folder / key).exists()
