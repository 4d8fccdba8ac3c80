"""How late are codes with a real qcluster? Prints seconds; asserts nothing.

Starts Seam's fake server and a django-q2 cluster (SQLite, ORM broker, as `make run`),
books stays whose programming and removal fall due a few seconds ahead, cancels one, and
measures when the fake server holds (or no longer holds) each code.
Run with `make bench` or `.venv/bin/python bench/lifecycle_latency.py`.
"""

import datetime
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORKDIR = Path(tempfile.mkdtemp(prefix="keystay-bench-"))
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
os.environ["DATABASE_URL"] = f"sqlite:///{WORKDIR / 'bench.sqlite3'}"
os.environ["KEYSTAY_DEMO"] = "false"
os.environ.setdefault("LOG_LEVEL", "WARNING")


def wait_for(predicate, timeout: float, step: float = 0.25) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic()
        time.sleep(step)
    return None


def main() -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.utils import timezone

    from locks.models import LockAssignment
    from locks.seam_transport import make_seam_client
    from locks.services import connection_create, devices_sync
    from properties.models import Listing, Property
    from properties.services import organization_create
    from reservations import services
    from reservations.models import Reservation
    from tests.seam_fake import start_fake_seam

    call_command("migrate", verbosity=0)
    fake = start_fake_seam()
    # Keystay calls only allowed servers: this process and the cluster may call the fake.
    os.environ["SEAM_ALLOWED_ENDPOINTS"] = fake.url
    settings.SEAM_ALLOWED_ENDPOINTS = [fake.url]
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        organization, _ = organization_create(name="Bench", owner_username="bench")
        prop = Property.objects.create(organization=organization, name="B", time_zone="UTC")
        listing = Listing.objects.create(property=prop, name="Flat", code_lead_time_minutes=0)
        connection = connection_create(
            organization=organization, name="Fake", api_key=fake.api_key, endpoint=fake.url
        )
        devices_sync(connection=connection)
        gate = connection.devices.get(name="Garden Gate")
        LockAssignment.objects.create(listing=listing, device=gate, role="primary")
        seam = make_seam_client(api_key=fake.api_key, endpoint=fake.url)

        def codes():
            return {
                c.code
                for c in seam.access_codes.list(device_id=gate.provider_device_id)
                if c.device_id == gate.provider_device_id
            }

        time.sleep(3)  # let the cluster start its workers
        # 1. Programming: due 20 s ahead, nothing enqueued at that moment.
        check_in = timezone.now() + datetime.timedelta(seconds=20)
        stay = services.reservation_create(
            listing=listing,
            guest_name="On time",
            check_in=check_in,
            check_out=check_in + datetime.timedelta(seconds=40),
            status=Reservation.Status.CONFIRMED,
        )
        code = stay.code.value
        seen = wait_for(lambda: code in codes(), timeout=150)
        due = check_in.timestamp() - time.time() + time.monotonic()
        print(
            "programming after its due instant: "
            + (f"{seen - due:6.1f} s" if seen else "not within 150 s")
        )
        # 2. Removal at the end of the window.
        gone = wait_for(lambda: code not in codes(), timeout=200)
        end_due = (check_in + datetime.timedelta(seconds=40)).timestamp()
        end_due = end_due - time.time() + time.monotonic()
        print(
            "removal after the window's end:   "
            + (f"{gone - end_due:6.1f} s" if gone else "not within 200 s")
        )
        # 3. Cancellation of a stay whose code is on the lock.
        now = timezone.now()
        current = services.reservation_create(
            listing=listing,
            guest_name="Cancels",
            check_in=now,
            check_out=now + datetime.timedelta(days=1),
            status=Reservation.Status.CONFIRMED,
        )
        wait_for(lambda: current.code.value in codes(), timeout=30)
        started = time.monotonic()
        services.reservation_cancel(reservation=current)
        revoked = wait_for(lambda: current.code.value not in codes(), timeout=30, step=0.1)
        print(
            "cancellation to revocation:       "
            + (f"{revoked - started:6.1f} s" if revoked else "not within 30 s")
        )
    finally:
        cluster.terminate()
        cluster.wait(timeout=30)
        fake.stop()


if __name__ == "__main__":
    main()
