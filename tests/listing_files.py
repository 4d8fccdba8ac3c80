"""Listing files and what a test compares before and after an import (shared cast)."""

import io
import zipfile

import openpyxl

from locks.models import LockAssignment
from properties.models import Listing

GOOD = (
    "property,name,external_id,check_in_time,primary_lock,secondary_locks\r\n"
    "Alpha House,Alpha Flat,{flat},16:00,Alpha Front Door,Alpha Gate\r\n"
    "Alpha House,Loft,LOFT-1,,,\r\n"
)
BAD = (
    "property,name,external_id,check_in_time\r\n"
    "Alpha House,Loft,LOFT-1,\r\n"
    "Alpha House,,L-2,25:00\r\n"
)


def good(org) -> bytes:
    """A file that updates org's listing (with two locks) and adds one."""
    return GOOD.format(flat=org.listing.external_id).encode()


def listings_state():
    return (
        list(Listing.objects.order_by("pk").values()),
        list(LockAssignment.objects.order_by("pk").values()),
    )


def workbook_with_sheet(sheet_xml: bytes) -> bytes:
    """A real workbook (a header row) whose first sheet's XML is replaced by `sheet_xml`."""
    book = openpyxl.Workbook()
    book.active.append(["property", "name", "external_id"])
    source_buffer = io.BytesIO()
    book.save(source_buffer)
    source = zipfile.ZipFile(source_buffer)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            data = source.read(member.filename)
            if member.filename.startswith("xl/worksheets/sheet"):
                data = sheet_xml
            target.writestr(member.filename, data)
    return buffer.getvalue()
