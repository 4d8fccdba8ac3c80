"""`manage.py import_listings`: the listing import from the command line."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from properties.models import Listing
from tests.factories import DeviceFactory
from tests.listing_files import BAD, good, listings_state

pytestmark = pytest.mark.django_db

URL = "/api/v1/listings/import/"


@pytest.fixture
def gate(org_a):
    return DeviceFactory(connection=org_a.device.connection, name="Alpha Gate")


# ------------------------------------------------------------------ manage.py import_listings


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_listings", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def post(client, data: bytes, name="listings.csv", **fields):
    return client.post(URL, {"file": SimpleUploadedFile(name, data), **fields}, format="multipart")


def test_command_imports_and_prints_each_row(org_a, gate, tmp_path):
    path = tmp_path / "listings.csv"
    path.write_bytes(good(org_a))

    out, _ = run(str(path), "--organization", "Alpha")

    assert f"Row 2 {org_a.listing.external_id}: update (check_in_time: — → 16:00" in out
    assert "Row 3 LOFT-1: new" in out
    assert "Imported into Alpha: 1 new, 1 updated, 0 unchanged listings." in out
    assert Listing.objects.get(external_id="LOFT-1").organization == org_a.organization
    assert org_a.listing.assignments.filter(device=gate).exists()


def test_command_dry_run_writes_nothing(org_a, gate, tmp_path):
    path = tmp_path / "listings.csv"
    path.write_bytes(good(org_a))
    before = listings_state()

    out, _ = run(str(path), "--organization", "Alpha", "--dry-run")

    assert "Would import into Alpha: 1 new, 1 updated" in out
    assert listings_state() == before


def test_command_reports_errors_by_row_writes_nothing_and_fails(org_a, tmp_path):
    path = tmp_path / "listings.txt"
    path.write_bytes(BAD.encode())
    before = listings_state()

    with pytest.raises(CommandError, match="2 problem"):
        run(str(path), "--organization", "Alpha", "--format", "csv")

    assert listings_state() == before


def test_command_error_lines_name_row_and_column(org_a, tmp_path, capsys):
    path = tmp_path / "listings.csv"
    path.write_bytes(BAD.encode())
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_listings", str(path), "--organization", "Alpha", stderr=err)
    assert "Row 3, column “name”: The listing's name is empty." in err.getvalue()
    assert "Row 3, column “check_in_time”: “25:00” is not a time of day" in err.getvalue()


def test_command_refuses_an_unknown_organization(org_a, tmp_path):
    path = tmp_path / "listings.csv"
    path.write_bytes(good(org_a))
    with pytest.raises(CommandError, match="No organization named 'Nope'"):
        run(str(path), "--organization", "Nope")


# ------------------------------------------------------------------ POST /api/v1/listings/import/
