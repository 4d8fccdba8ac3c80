"""Every listing import path (admin, API, command) refuses a file beyond its limits (bytes,
rows, an XLSX's unpacked size) with a message, before the expensive work, and writes nothing."""

import io
import json
import time

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import reverse
from rest_framework.parsers import MultiPartParser

from locks import listing_import
from tests.api.conftest import session_client
from tests.listing_files import listings_state, workbook_with_sheet

pytestmark = pytest.mark.django_db

API_URL = "/api/v1/listings/import/"
ADMIN_URL = reverse("admin:properties_listing_import")


@pytest.fixture
def manager_api(org_a):
    return session_client(org_a.manager)


def csv_rows(count: int) -> bytes:
    lines = ["property,name,external_id"] + [f"Alpha House,Flat {n},EXT-{n}" for n in range(count)]
    return ("\r\n".join(lines) + "\r\n").encode()


def xlsx_rows(count: int) -> bytes:
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Listings")
    sheet.append(["property", "name", "external_id"])
    for n in range(count):
        sheet.append(["Alpha House", f"Flat {n}", f"EXT-{n}"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def api_post(client, data: bytes, name: str):
    return client.post(API_URL, {"file": SimpleUploadedFile(name, data)}, format="multipart")


def admin_post(client, data: bytes, name: str):
    fmt = listing_import.format_for_name(name)
    return client.post(ADMIN_URL, {"import_file": SimpleUploadedFile(name, data), "format": fmt})


def api_errors(response) -> list[str]:
    body = response.json()
    if "errors" in body:
        return [problem["message"] for problem in body["errors"]]
    return body.get("file", [])


def admin_errors(response) -> list[str]:
    assert response.status_code == 200
    problems = [str(problem) for problem in response.context.get("problems") or []]
    form = response.context["form"]
    return problems + [str(e) for errors in form.errors.values() for e in errors]


def command_error(org, tmp_path, data: bytes, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    err = io.StringIO()
    with pytest.raises(CommandError) as refused:
        call_command(
            "import_listings",
            str(path),
            "--organization",
            org.organization.name,
            stdout=io.StringIO(),
            stderr=err,
        )
    return f"{refused.value} {err.getvalue()}"


@override_settings(LISTING_IMPORT_MAX_BYTES=4096)
def test_an_oversize_api_upload_is_refused_before_it_is_parsed(manager_api, org_a, monkeypatch):
    def parse(*args, **kwargs):
        raise AssertionError("the upload was parsed")

    monkeypatch.setattr(MultiPartParser, "parse", parse)
    before = listings_state()

    response = api_post(manager_api, csv_rows(3000), "listings.csv")

    assert response.status_code == 400
    assert response.json()["file"] == [
        "The file is larger than 4.0\xa0KB, the most Keystay imports at once."
    ]
    assert listings_state() == before


@override_settings(LISTING_IMPORT_MAX_BYTES=4096)
def test_an_oversize_file_is_refused_by_the_admin_and_the_command(manager_client, org_a, tmp_path):
    data = csv_rows(3000)
    assert any("larger than" in e for e in admin_errors(admin_post(manager_client, data, "l.csv")))
    assert "larger than" in command_error(org_a, tmp_path, data, "l.csv")


@override_settings(LISTING_IMPORT_MAX_ROWS=5)
@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json"])
def test_too_many_rows_are_refused_naming_the_limit_on_every_path(
    manager_api, manager_client, org_a, tmp_path, fmt
):
    if fmt == "csv":
        data = csv_rows(6)
    elif fmt == "xlsx":
        data = xlsx_rows(6)
    else:
        data = json.dumps(
            [
                {"property": "Alpha House", "name": f"F{n}", "external_id": f"E{n}"}
                for n in range(6)
            ]
        ).encode()
    name = f"listings.{fmt}"
    before = listings_state()
    expected = "The file has more than 5 rows, the most Keystay imports at once"

    api = api_post(manager_api, data, name)
    assert api.status_code == 400
    assert any(expected in message for message in api_errors(api))
    assert any(expected in m for m in admin_errors(admin_post(manager_client, data, name)))
    assert expected in command_error(org_a, tmp_path, data, name)
    assert listings_state() == before
    # Five rows are within the limit.
    assert listing_import.read_table(data=csv_rows(5), file_format="csv").rows


def test_a_workbook_that_unpacks_huge_is_refused_before_it_is_parsed(manager_api, manager_client):
    # 60 MB of rows compress to a few hundred kilobytes.
    row = b'<row r="2"><c r="A2" t="inlineStr"><is><t>x</t></is></c></row>'
    sheet = (
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b"<sheetData>" + row * (60 * 2**20 // len(row)) + b"</sheetData></worksheet>"
    )
    data = workbook_with_sheet(sheet)
    assert len(data) < 1 * 2**20

    started = time.monotonic()
    response = api_post(manager_api, data, "bomb.xlsx")
    elapsed = time.monotonic() - started

    assert response.status_code == 400
    assert any("unpacks to more than 50.0\xa0MB" in m for m in api_errors(response))
    assert elapsed < 5, elapsed  # the sizes the zip declares, not 60 MB of XML parsed
    admin = admin_errors(admin_post(manager_client, data, "bomb.xlsx"))
    assert any("unpacks to more than 50.0\xa0MB" in m for m in admin)


def test_a_small_workbook_of_300000_rows_stops_at_the_row_limit(manager_api):
    row = b'<row><c t="inlineStr"><is><t>x</t></is></c></row>'
    sheet = (
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b"<sheetData>" + row * 300_000 + b"</sheetData></worksheet>"
    )
    data = workbook_with_sheet(sheet)
    assert len(data) < 100 * 1024

    started = time.monotonic()
    response = api_post(manager_api, data, "rows.xlsx")
    elapsed = time.monotonic() - started

    assert response.status_code == 400
    assert any("more than 20,000 rows" in m for m in api_errors(response))
    assert elapsed < 15, elapsed  # 20,001 rows read, not 300,000
