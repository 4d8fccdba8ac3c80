"""Saving a door-code template re-plans the organization's coming stays in a worker. The
planning of a stay already inside the send window enqueues its email at once, through
django-q2's ORM broker, which closes the process's database connection when it is
obsolete (on SQLite, after every use outside a transaction). The replan read its stays
through an open cursor on that connection and died with "Cannot operate on a closed
database" after the first such stay. Run as the worker runs: its own process, a SQLite
file, the broker for real."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

WORKER = """
import datetime, django
django.setup()
from django.utils import timezone
from guests import tasks
from guests.models import GuestMessage, MessageTemplate
from properties.models import Listing, Organization, Property
from reservations.models import Reservation
from django_q.models import OrmQ

org = Organization.objects.create(name="Alpha")
prop = Property.objects.create(organization=org, name="House", time_zone="Europe/Lisbon")
listing = Listing.objects.create(property=prop, name="Flat", organization=org)
soon = timezone.now() + datetime.timedelta(hours=20)
for n in range(3):  # guests already inside the 48-hour window: emailed at once
    Reservation.objects.create(
        listing=listing, organization=org, guest_name=f"Guest {n}",
        guest_email=f"g{n}@example.com", status="confirmed",
        check_in=soon + datetime.timedelta(hours=n),
        check_out=soon + datetime.timedelta(days=3),
    )
MessageTemplate.objects.create(
    organization=org, kind="code", send_hours_before=48,
    subject="Codes for {listing}", body="Hello {guest_name}\\n{doors}",
)
planned = tasks.replan_organization(org.pk)
print(planned, GuestMessage.objects.count(), OrmQ.objects.count())
"""


@pytest.mark.slow
def test_the_worker_replans_every_stay_while_the_broker_closes_connections(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'worker.sqlite3'}"
    env["REDIS_URL"] = ""
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    run = subprocess.run(
        [sys.executable, "-c", WORKER], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert "closed database" not in run.stdout + run.stderr
    assert run.returncode == 0, run.stderr[-2000:]
    # Three stays planned, three emails planned, three sends handed to the workers.
    assert run.stdout.split()[-3:] == ["3", "3", "3"]
