"""The periodic read-back pass over many locks: cut into chunks that the cluster's workers
run side by side, each lock read once (one managed and one unmanaged list), and a pass
that overruns its minute never queues a lock twice.

Against Seam's fake through the real SDK; its launcher counts the requests it received per
route, whichever client sent them.
"""

import datetime
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection
from django_q.models import Task

from locks.models import Device
from locks.services import devices_sync
from reservations import readback, tasks

ROOT = Path(__file__).resolve().parents[2]
MANY = 40


def lock_ids(connection) -> list[int]:
    return sorted(
        Device.objects.filter(connection=connection, kind=Device.Kind.LOCK).values_list(
            "pk", flat=True
        )
    )


@pytest.mark.django_db
def test_a_pass_over_many_locks_reads_each_lock_once_in_chunks(wired):
    wired.fake.add_locks(MANY)
    devices_sync(connection=wired.connection)
    locks = lock_ids(wired.connection)
    assert len(locks) > MANY
    wired.fake.requests(clear=True)

    answer = tasks.reconcile_locks()  # the schedule's task; the test settings run tasks inline

    chunks = [
        task.args[0]
        for task in Task.objects.filter(func="reservations.tasks.reconcile_lock_chunk")
    ]
    assert len(chunks) > 1 and answer == f"{len(locks)} locks queued in {len(chunks)} chunks"
    assert sorted(pk for chunk in chunks for pk in chunk) == locks  # each lock in one chunk
    assert all(task.success for task in Task.objects.filter(group="reconcile"))
    assert wired.fake.requests() == {
        "/access_codes/list": len(locks),
        "/access_codes/unmanaged/list": len(locks),
    }
    assert not Device.objects.filter(pk__in=locks, reconciled_at=None).exists()
    assert not Device.objects.exclude(reconcile_queued_until=None).exists()

    # The next minute's pass finds no lock whose turn it is.
    assert tasks.reconcile_locks() == "0 locks queued in 0 chunks"
    assert sum(wired.fake.requests().values()) == 2 * len(locks)


@pytest.mark.django_db
def test_a_pass_still_queued_when_the_next_is_due_is_not_queued_again(wired):
    locks = lock_ids(wired.connection)
    first = readback.reconcile_pass()
    assert sorted(pk for chunk in first for pk in chunk) == locks
    # The chunks wait in the queue (a busy cluster): the next passes queue nothing.
    assert readback.reconcile_pass() == []
    wired.fake.requests(clear=True)
    for chunk in first:
        readback.locks_reconcile_chunk(chunk)
    # A chunk queued twice (its first task lost and queued again after QUEUED_FOR) reads
    # none of the locks read since.
    assert readback.locks_reconcile_chunk(first[0]) == {"not queued": len(first[0])}
    assert wired.fake.requests()["/access_codes/list"] == len(locks)


@pytest.mark.django_db
def test_a_lock_a_worker_holds_is_let_go_for_the_next_pass(wired):
    from locks import pacing

    token = pacing.lease_take(wired.gate.pk)
    chunks = readback.reconcile_pass()
    outcomes = sum((readback.locks_reconcile_chunk(chunk) for chunk in chunks), Counter())
    assert outcomes == {"busy": 1, "in step": len(lock_ids(wired.connection)) - 1}
    pacing.lease_release(wired.gate.pk, token)
    assert readback.reconcile_pass() == [[wired.gate.pk]]  # its turn still, queued again


# --- with a real cluster -----------------------------------------------------------------

SETUP = """
import datetime, json, sys, django
django.setup()
from django.utils import timezone
from django_q.models import Schedule
from core.schedules import schedules_ensure
from locks.models import Device
from locks.services import connection_create, devices_sync
from properties.services import organization_create

url, api_key = sys.argv[1:3]
organization, _ = organization_create(name="Many locks", owner_username="many")
connection = connection_create(
    organization=organization, name="Seam", api_key=api_key, endpoint=url
)
devices_sync(connection=connection)
# The cluster's schedules as it makes them; only the read-back pass falls due (the others,
# such as the hourly unmanaged import, would list the locks too).
schedules_ensure()
now = timezone.now()
Schedule.objects.update(next_run=now + datetime.timedelta(days=1))
Schedule.objects.filter(func="reservations.tasks.reconcile_locks").update(next_run=now)
print(json.dumps(sorted(Device.objects.filter(kind="lock").values_list("pk", flat=True))))
"""

REPORT = """
import json, sys, django
django.setup()
from django_q.models import Task
from locks.models import Device

print(json.dumps({
    "unread": list(Device.objects.filter(kind="lock", reconciled_at=None).values_list(
        "pk", flat=True)),
    "chunks": [
        {"ids": task.args[0], "success": task.success}
        for task in Task.objects.filter(func="reservations.tasks.reconcile_lock_chunk")
    ],
    "passes": list(Task.objects.filter(func="reservations.tasks.reconcile_locks").values_list(
        "result", flat=True)),
}))
"""


def django_script(script: str, *args: str, env) -> dict | list:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_the_cluster_reads_a_pass_in_chunks_each_lock_once(
    tmp_path, migrated_sqlite, fake_seam, seam_client
):
    fake_seam.add_locks(MANY)
    fake_seam.set_latency(20)  # a little of the provider's latency: threads overlap it
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.pop("REDIS_URL", None)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DATABASE_URL=f"sqlite:///{migrated_sqlite('pass.sqlite3')}",
        KEYSTAY_DEMO="false",
        LOG_LEVEL="WARNING",
        SEAM_ALLOWED_ENDPOINTS=fake_seam.url,
        Q_WORKERS="2",
    )
    locks = django_script(SETUP, fake_seam.url, fake_seam.api_key, env=env)
    fake_seam.requests(clear=True)

    log = (tmp_path / "qcluster.log").open("w")
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        started = time.monotonic()
        report = {}
        while time.monotonic() - started < 150 and cluster.poll() is None:
            time.sleep(2)
            report = django_script(REPORT, env=env)
            if not report["unread"] and report["chunks"]:
                break
        requests = fake_seam.requests()
    finally:
        fake_seam.set_latency(0)
        if cluster.poll() is None:
            os.killpg(cluster.pid, signal.SIGTERM)
            try:
                cluster.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(cluster.pid, signal.SIGKILL)
                cluster.wait()
        log.close()
    output = (tmp_path / "qcluster.log").read_text()[-3000:]

    assert report and not report["unread"], f"locks not read back; cluster:\n{output}"
    chunks = report["chunks"]
    assert len(chunks) > 1 and all(chunk["success"] for chunk in chunks), chunks
    assert sorted(pk for chunk in chunks for pk in chunk["ids"]) == locks
    assert requests.get("/access_codes/list") == len(locks), requests
    assert requests.get("/access_codes/unmanaged/list") == len(locks), requests


# A chunk's threads write side by side: on SQLite the test database is in memory with a
# shared cache, whose table locks fail at once ("database table is locked") where a
# database file waits its busy timeout. Concurrency runs on PostgreSQL.
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrency runs on PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_in_a_chunk_a_slow_lock_and_a_lock_answering_429_hold_up_only_themselves(wired):
    from django.utils import timezone

    wired.fake.add_locks(6)
    devices_sync(connection=wired.connection)
    locks = lock_ids(wired.connection)
    slow, limited = Device.objects.filter(pk__in=locks).order_by("pk")[:2]
    wired.fake.slow_down(slow.provider_device_id, 3000)
    wired.fake.rate_limit(limited.provider_device_id, retry_after=120)
    chunks = readback.reconcile_pass()
    assert sorted(pk for chunk in chunks for pk in chunk) == locks
    started = timezone.now()

    first = chunks[0]
    assert {slow.pk, limited.pk} <= set(first) and len(first) > 3

    outcomes = readback.locks_reconcile_chunk(first, concurrency=3)  # as a worker runs it
    took = timezone.now() - started

    assert outcomes == {"in step": len(first) - 1, "failed": 1}
    # The slow lock (the first) took its 3 s; the chunk's other locks were read meanwhile
    # by its other threads (a lock's reconciled_at is when its read began).
    assert took >= datetime.timedelta(seconds=3)
    read = dict(Device.objects.filter(pk__in=first).values_list("pk", "reconciled_at"))
    others = [at for pk, at in read.items() if pk not in (slow.pk, limited.pk)]
    assert max(others) - started < datetime.timedelta(seconds=2.5)
    limited.refresh_from_db()
    assert limited.backoff_until >= started + datetime.timedelta(seconds=110)
    assert limited.reconcile_queued_until is None and limited.reconcile_error
    assert limited.pk not in readback.locks_due_for_reconcile()  # paused, alone


@pytest.mark.django_db
def test_a_chunk_past_its_time_lets_its_other_locks_go_for_the_next_pass(wired, monkeypatch):
    locks = lock_ids(wired.connection)
    chunks = readback.reconcile_pass()
    wired.fake.requests(clear=True)
    monkeypatch.setattr(readback, "CHUNK_SECONDS", -1)  # a provider so slow the time is up

    outcomes = readback.locks_reconcile_chunk(chunks[0])

    assert outcomes == {"left for the next pass": len(chunks[0])}
    assert wired.fake.requests() == {}
    assert set(chunks[0]) <= set(readback.locks_due_for_reconcile())  # queued again next
    assert set(locks) - set(chunks[0]) & set(readback.locks_due_for_reconcile()) == set()
