"""Benchmarks: print figures, assert nothing. Run with `make bench`."""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")


def main() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    setup_test_environment()
    call_command("migrate", verbosity=0)
    from tests.factories import MembershipFactory, OrganizationFactory, ReservationFactory

    organization = OrganizationFactory()
    manager = MembershipFactory(organization=organization).user
    client = Client()
    client.force_login(manager)
    for rows in (10, 100, 1000):
        while organization.reservations.count() < rows:
            ReservationFactory(listing__property__organization=organization)
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            client.get("/admin/reservations/reservation/")
            elapsed = time.perf_counter() - start
        print(
            f"reservation changelist, {rows:>5} rows: {elapsed * 1000:7.1f} ms, "
            f"{len(queries)} queries"
        )

    import import_listings  # bench/ is on sys.path: this script's folder

    import_listings.main()


if __name__ == "__main__":
    main()
