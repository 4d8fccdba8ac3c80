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


# The same organization re-planned two stays per task: the first task hands the rest to
# a task of its own through the broker, which the worker then takes from the queue.
IN_CHUNKS = WORKER.replace(
    "planned = tasks.replan_organization(org.pk)",
    """from django_q.signing import SignedPackage
from guests import services
services.REPLAN_CHUNK = 2
first = tasks.replan_organization(org.pk)
[rest] = [t for t in map(SignedPackage.loads, OrmQ.objects.values_list("payload", flat=True))
          if t["func"] == "guests.tasks.replan_organization"]
planned = first + tasks.replan_organization(*rest["args"])
sends = [t for t in map(SignedPackage.loads, OrmQ.objects.values_list("payload", flat=True))
         if t["func"] == "guests.tasks.send_message"]
print(first, len(sends))""",
)


def run_worker(tmp_path, script: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'worker.sqlite3'}"
    env["REDIS_URL"] = ""
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )


@pytest.mark.slow
def test_the_worker_replans_every_stay_while_the_broker_closes_connections(tmp_path):
    run = run_worker(tmp_path, WORKER)
    assert "closed database" not in run.stdout + run.stderr
    assert run.returncode == 0, run.stderr[-2000:]
    # Three stays planned, three emails planned, three sends handed to the workers.
    assert run.stdout.split()[-3:] == ["3", "3", "3"]


@pytest.mark.slow
def test_a_replan_in_chunks_hands_the_rest_to_the_next_task_through_the_broker(tmp_path):
    run = run_worker(tmp_path, IN_CHUNKS)
    assert run.returncode == 0, run.stderr[-2000:]
    # The first task queued the rest and planned 2 stays; the queued task planned the
    # last one: 3 emails planned, 3 sends queued, the continuation still in the queue.
    assert run.stdout.split()[-5:] == ["2", "3", "3", "3", "4"]
