"""Import 10,000 listings with their locks through the admin's own views: upload (preview),
then confirm, which goes through `locks.listing_import`.

Into a fresh organization, then every row updated, then an unchanged re-import, then the
export. Last, 10,000 listings of which 2,000 have an upcoming confirmed stay, imported
with new locks: the confirm commits the listings, then their stays re-plan after the
commit in short chunks (timed apart). Run by `bench/run.py` after `django.setup()`.
"""

import datetime
import time

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from locks.listing_import import COLUMNS
from reservations.models import LockAccess


def listings_csv(rows: int, devices: list[str], *, check_in: str = "15:00", gate=0) -> bytes:
    lines = [",".join(COLUMNS)]
    for i in range(rows):
        primary = devices[i % len(devices)]
        gate_name = f"Gate {(i + gate) % 100}"
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
                    gate_name,
                    gate_name if i % 2 else "",
                ]
            )
        )
    return ("\r\n".join(lines) + "\r\n").encode()


class Replans:
    """Times the re-plan that runs on commit (the receiver's chunks), apart from the rest."""

    def __init__(self):
        from reservations import receivers

        self.receivers = receivers
        self.seconds = 0.0
        self.stays = 0

    def __enter__(self):
        from reservations import planning as services  # where re-plans ask for processing

        # Processing is the qcluster's work, later; the test settings would run each
        # stay's task inline, here. Only the re-plan is timed.
        self.services, self.enqueue = services, services.enqueue_processing
        services.enqueue_processing = lambda reservation_id: None
        original = self.receivers.listings_replan_in_chunks

        def timed(**kwargs):
            start = time.perf_counter()
            self.stays += original(**kwargs)
            self.seconds += time.perf_counter() - start

        self.original = original
        self.receivers.listings_replan_in_chunks = timed
        return self

    def __exit__(self, *exc):
        self.receivers.listings_replan_in_chunks = self.original
        self.services.enqueue_processing = self.enqueue


def import_file(client: Client, data: bytes) -> dict:
    """Seconds of the preview and of the confirm, CPU seconds and queries of both."""
    queries = 0

    def count(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count), Replans() as replans:
        cpu = time.process_time()
        start = time.perf_counter()
        preview = client.post(
            reverse("admin:properties_listing_import"),
            {"import_file": SimpleUploadedFile("listings.csv", data), "format": "csv"},
        )
        previewed = time.perf_counter()
        assert preview.context["problems"] == [], preview.context["problems"][:3]
        done = client.post(
            reverse("admin:properties_listing_process_import"),
            {"key": preview.context["upload_key"]},
        )
        confirmed = time.perf_counter()
        cpu = time.process_time() - cpu
    assert done.status_code == 302 and "import" not in done.url, "the import failed"
    return {
        "preview": previewed - start,
        "confirm": confirmed - previewed - replans.seconds,
        "replan": replans.seconds,
        "stays": replans.stays,
        "cpu": cpu,
        "queries": queries,
    }


def fresh_organization(name: str):
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
    return organization, client


def report(label: str, rows: int, f: dict) -> None:
    total = f["preview"] + f["confirm"]
    replan = (
        f", then {f['stays']} stays re-planned after the commit in {f['replan']:5.2f} s"
        if f["stays"]
        else ""
    )
    print(
        f"listing import, {rows} rows, {label}: preview {f['preview']:5.2f} s, "
        f"confirm {f['confirm']:5.2f} s, total {total:5.2f} s (CPU {f['cpu']:5.2f} s), "
        f"{f['queries']} queries{replan}"
    )


def book_stays(organization, count: int) -> None:
    """Upcoming confirmed stays on the first `count` listings, written in bulk."""
    from reservations.models import Reservation

    now = timezone.now()
    listings = organization.listings.order_by("pk")[:count]
    Reservation.objects.bulk_create(
        [
            Reservation(
                organization_id=organization.pk,
                listing=listing,
                guest_name=f"Guest {i}",
                check_in=now + datetime.timedelta(days=3),
                check_out=now + datetime.timedelta(days=5),
                status=Reservation.Status.CONFIRMED,
                external_id=f"RES-{organization.pk}-{i}",
            )
            for i, listing in enumerate(listings)
        ]
    )


def main(rows: int = 10_000) -> None:
    devices = [f"Door {i}" for i in range(200)]
    data = listings_csv(rows, devices)

    organization, client = fresh_organization("Bulk Lets")
    report("new", rows, import_file(client, data))
    changed = listings_csv(rows, devices, check_in="16:00")
    report("every row updated", rows, import_file(client, changed))
    report("unchanged re-import", rows, import_file(client, changed))

    start = time.perf_counter()
    exported = client.post(reverse("admin:properties_listing_export"), {"format": "csv"})
    assert exported.status_code == 200, "the export failed"
    print(f"listing export, {rows} rows (CSV): {time.perf_counter() - start:5.2f} s")

    stays = 2_000
    book_stays(organization, stays)
    moved = listings_csv(rows, devices, check_in="16:00", gate=1)  # every gate changes
    figures = import_file(client, moved)
    report(f"new locks, {stays} with upcoming stays", rows, figures)
    assert figures["stays"] == stays, figures
    planned = LockAccess.objects.filter(reservation__organization=organization).count()
    print(f"  lock accesses planned for those stays: {planned}")
