"""Import 10,000 listings through the admin's own views: upload (preview), then confirm.

Twice, each into a fresh organization: with Keystay's listing resource as configured
(bulk writes, cached instance loader, no library diff), and with the same resource set
back to the library's default, non-bulk configuration (one save per row in its own
savepoint, one query per row to find the listing, a deep-copied diff per row). Run by
`bench/run.py` after `django.setup()`.
"""

import time
from contextlib import contextmanager

from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse
from import_export.instance_loaders import ModelInstanceLoader

from properties.models import Listing
from properties.resources import COLUMNS, ListingResource


class LibraryDefaultListingResource(ListingResource):
    """The same columns and checks, with django-import-export's default options."""

    class Meta(ListingResource.Meta):
        use_bulk = False
        skip_diff = False
        instance_loader_class = ModelInstanceLoader


@contextmanager
def resource(resource_class):
    listing_admin = admin.site._registry[Listing]
    saved = listing_admin.resource_classes
    listing_admin.resource_classes = [resource_class]
    try:
        yield
    finally:
        listing_admin.resource_classes = saved


def listings_csv(rows: int, devices: list[str], *, check_in: str = "15:00") -> bytes:
    lines = [",".join(COLUMNS)]
    for i in range(rows):
        primary = devices[i % len(devices)]
        gate = f"Gate {i % 100}"
        lines.append(
            ",".join(
                [
                    f"Property {i % 100}",
                    "Europe/Lisbon",
                    f"Listing {i}",
                    f"EXT-{i}",
                    check_in,
                    "11:00",
                    "60",
                    "6",
                    "yes",
                    primary,
                    gate,
                    gate if i % 2 else "",
                ]
            )
        )
    return ("\r\n".join(lines) + "\r\n").encode()


def import_file(client: Client, data: bytes) -> tuple[float, float, float, int]:
    """Seconds of the preview and of the confirm, CPU seconds and queries of both."""
    queries = 0

    def count(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        cpu = time.process_time()
        start = time.perf_counter()
        preview = client.post(
            reverse("admin:properties_listing_import"),
            {"import_file": SimpleUploadedFile("listings.csv", data), "format": "0"},
        )
        previewed = time.perf_counter()
        form = preview.context["confirm_form"]
        done = client.post(
            reverse("admin:properties_listing_process_import"),
            {**form.initial, "confirm": "Confirm import"},
        )
        confirmed = time.perf_counter()
        cpu = time.process_time() - cpu
    assert done.status_code == 302, "the import failed"
    return previewed - start, confirmed - previewed, cpu, queries


def fresh_organization(name: str) -> Client:
    from tests.factories import DeviceFactory, MembershipFactory, OrganizationFactory

    organization = OrganizationFactory(name=name)
    manager = MembershipFactory(organization=organization).user
    device = DeviceFactory(connection__organization=organization, name="Door 0")
    for i in range(1, 200):
        DeviceFactory(connection=device.connection, name=f"Door {i}")
    for i in range(100):
        DeviceFactory(connection=device.connection, name=f"Gate {i}")
    client = Client()
    client.force_login(manager)
    return client


def report(label: str, rows: int, figures: tuple[float, float, float, int]) -> float:
    preview, confirm, cpu, queries = figures
    total = preview + confirm
    print(
        f"listing import, {rows} rows, {label}: preview {preview:5.2f} s, "
        f"confirm {confirm:5.2f} s, total {total:5.2f} s (CPU {cpu:5.2f} s), {queries} queries"
    )
    return total


def main(rows: int = 10_000) -> None:
    devices = [f"Door {i}" for i in range(200)]
    data = listings_csv(rows, devices)

    client = fresh_organization("Bulk Lets")
    fast = report("Keystay (bulk)", rows, import_file(client, data))
    changed = listings_csv(rows, devices, check_in="16:00")
    report("Keystay (bulk), every row updated", rows, import_file(client, changed))
    report("Keystay (bulk), unchanged re-import", rows, import_file(client, changed))

    start = time.perf_counter()
    exported = client.post(
        reverse("admin:properties_listing_export"),
        {"format": "0", "resource": "0"} | {f"listingresource_{c}": "on" for c in COLUMNS},
    )
    assert exported.status_code == 200, "the export failed"
    print(f"listing export, {rows} rows (CSV): {time.perf_counter() - start:5.2f} s")

    with resource(LibraryDefaultListingResource):
        slow = report(
            "library defaults", rows, import_file(fresh_organization("Default Lets"), data)
        )
    print(f"listing import, {rows} rows: {slow / fast:.1f}× faster than the library defaults")
