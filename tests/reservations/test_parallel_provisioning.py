"""Provisioning in parallel: locks side by side, each lock's steps one at a time, in order.

Several worker processes (each with threads of its own) work the same due steps against
Seam's fake, slowed down so that overlaps show. The fake counts the requests it answers
side by side, in all and per device: two steps of one lock at once would show as two
requests about that lock's codes at once.

PostgreSQL only, like the other tests of claims between processes (CI runs both).
"""

import datetime
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import time_machine
from django.db import connection, connections
from django.utils import timezone

from locks.models import Device, LockAssignment
from locks.services import devices_sync
from reservations import planning, services
from reservations.models import LockAccess, LockAccessLog, Reservation
from tests.factories import ListingFactory

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="workers in several processes share work through PostgreSQL (CI runs both)",
    ),
]

# A worker process: sets up Django, says it is ready, waits for the word, works.
WORKER = """
import sys, django
django.setup()
from reservations import planning, services
print("ready", flush=True)
sys.stdin.readline()
print(services.process_due(concurrency=int(sys.argv[1])), flush=True)
"""


def run_workers(processes: int, *, concurrency: int, fake) -> list[int]:
    """Start worker processes on the test database, let them go at once, and return how
    many steps each worked on."""
    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=(
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
            f"/{db['NAME']}"
        ),
        SEAM_ALLOWED_ENDPOINTS=fake.url,
    )
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(concurrency)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    try:
        for worker in workers:
            assert worker.stdout.readline().strip() == "ready"
        for worker in workers:  # all at once
            worker.stdin.write("go\n")
            worker.stdin.flush()
        outputs = [worker.communicate(timeout=120)[0] for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    assert [w.returncode for w in workers] == [0] * processes, outputs
    return [int(out.strip().splitlines()[-1]) for out in outputs]


@pytest.fixture
def more_locks(wired):
    """A second listing with four plain locks of its own at the fake."""
    added = wired.fake.add_locks(4)
    devices_sync(connection=wired.connection)
    listing = ListingFactory(property=wired.listing.property, name="Annex")
    devices = list(Device.objects.filter(provider_device_id__in=added).order_by("pk"))
    for number, device in enumerate(devices):
        LockAssignment.objects.create(
            listing=listing,
            device=device,
            role="primary" if number == 0 else "secondary",
            guest_access=True,
        )
    return listing, devices


def book(listing, *, days_ahead: int, guest: str) -> Reservation:
    today = timezone.localdate(timezone=listing.property.zone)
    return services.reservation_create(
        listing=listing,
        check_in=listing.local_check_in(today + datetime.timedelta(days=days_ahead)),
        check_out=listing.local_check_out(today + datetime.timedelta(days=days_ahead + 1)),
        status=Reservation.Status.CONFIRMED,
        guest_name=guest,
    )


def fall_due_in_booking_order() -> None:
    """Every planned step falls due now, one second apart in the order the stays were
    booked: each lock's steps have an order to keep."""
    base = timezone.now() - datetime.timedelta(minutes=5)
    for number, pk in enumerate(
        LockAccess.objects.order_by("reservation_id", "pk").values_list("pk", flat=True)
    ):
        moment = base + datetime.timedelta(seconds=number)
        LockAccess.objects.filter(pk=pk).update(program_at=moment, due_at=moment)


def codes_on(wired, device) -> list[str]:
    return sorted(c.code for c in wired.codes_on(device))


def due_order(devices) -> dict[int, list[int]]:
    return {
        d.pk: list(
            LockAccess.objects.filter(device=d)
            .order_by("due_at", "pk")
            .values_list("pk", flat=True)
        )
        for d in devices
    }


def sent_order(devices) -> dict[int, list[int]]:
    return {
        d.pk: list(
            LockAccessLog.objects.filter(access__device=d, kind=LockAccessLog.Kind.REQUESTED)
            .order_by("at", "pk")
            .values_list("access_id", flat=True)
        )
        for d in devices
    }


def test_several_workers_program_each_code_once_one_step_per_lock_at_a_time(wired, more_locks):
    annex, extra = more_locks
    stays = [book(wired.listing, days_ahead=3 + 2 * n, guest=f"Guest {n}") for n in range(3)]
    annex_stays = [book(annex, days_ahead=3 + 2 * n, guest=f"Annex {n}") for n in range(3)]
    fall_due_in_booking_order()
    locks = [wired.gate, wired.side, *extra]
    assert LockAccess.objects.count() == 3 * len(locks)
    order = due_order(locks)
    wired.fake.set_latency(150)
    wired.fake.overlaps(clear=True)
    try:
        worked = run_workers(3, concurrency=3, fake=wired.fake)
        side_by_side, per_lock = wired.fake.overlaps()
        requests = wired.fake.requests()
    finally:
        wired.fake.set_latency(0)

    # Each step worked on once, by one worker or another, and each code created once.
    assert sum(worked) == 18
    assert requests["/access_codes/create"] == 18
    for device, booked in [(wired.gate, stays), (wired.side, stays)] + [
        (d, annex_stays) for d in extra
    ]:
        assert codes_on(wired, device) == sorted(s.code.value for s in booked)
    assert set(LockAccess.objects.values_list("state", flat=True)) == {LockAccess.State.REQUESTED}
    # Never two requests about one lock's codes at once, while locks went side by side.
    assert set(per_lock) == {d.provider_device_id for d in locks}
    assert set(per_lock.values()) == {1}
    assert side_by_side >= 3
    # Each lock's steps were carried out in the order they fell due.
    assert sent_order(locks) == order


def test_one_worker_programs_several_locks_side_by_side(wired, more_locks):
    annex, extra = more_locks
    book(annex, days_ahead=3, guest="Annex")
    book(wired.listing, days_ahead=3, guest="Garden")
    fall_due_in_booking_order()
    wired.fake.set_latency(300)
    wired.fake.overlaps(clear=True)
    try:
        started = time.monotonic()
        worked = services.process_due(concurrency=6)
        elapsed = time.monotonic() - started
        side_by_side, per_lock = wired.fake.overlaps()
    finally:
        wired.fake.set_latency(0)

    # Six locks, two calls each (look for a lost create, create): 3.6 s one after another.
    assert worked == 6
    assert side_by_side >= 4 and set(per_lock.values()) == {1}
    assert elapsed < 2.5
    assert LockAccess.objects.filter(state=LockAccess.State.REQUESTED).count() == 6


def test_a_slow_lock_does_not_hold_back_the_others(wired, more_locks):
    annex, extra = more_locks
    for n in range(2):
        book(wired.listing, days_ahead=3 + 2 * n, guest=f"Guest {n}")
        book(annex, days_ahead=3 + 2 * n, guest=f"Annex {n}")
    fall_due_in_booking_order()
    wired.fake.slow_down(wired.gate.provider_device_id, 2000)  # 8 s for its two steps

    assert services.process_due(concurrency=3) == 12

    requested = LockAccessLog.objects.filter(kind=LockAccessLog.Kind.REQUESTED)
    gate_first = requested.filter(access__device=wired.gate).order_by("at").first().at
    others_last = requested.exclude(access__device=wired.gate).order_by("at").last().at
    # Two threads carried the other five locks' ten steps while the gate held the third.
    assert others_last < gate_first - datetime.timedelta(seconds=1)
    assert len(wired.codes_on(wired.gate)) == 2


def test_seams_per_lock_write_limit_holds_across_workers(wired, more_locks):
    # Twelve stays on the same four locks fall due at once: twelve creates per lock.
    annex, locks = more_locks
    stays = [book(annex, days_ahead=2 + n, guest=f"Guest {n}") for n in range(12)]
    fall_due_in_booking_order()
    wired.fake.write_limits(True)  # the fake answers 429 as Seam would
    try:
        worked = run_workers(3, concurrency=2, fake=wired.fake)
        requests = wired.fake.requests()

        # Ten creates a lock within the minute, never an eleventh: no 429 from the fake.
        assert "429 /access_codes/create" not in requests
        assert requests["/access_codes/create"] == 40
        assert sum(worked) == 48  # twelve steps per lock, two of them told to wait
        for device in locks:
            assert len(wired.codes_on(device)) == 10
            waiting = LockAccess.objects.filter(device=device, provider_id="")
            assert waiting.count() == 2
            device.refresh_from_db()
            first_write = min(device.recent_writes["create"])
            for access in waiting:
                assert access.state == LockAccess.State.PLANNED
                assert access.attempts == 0 and access.last_error == ""
                # They wait until the lock's minute is over (and a second more).
                assert access.due_at.timestamp() == pytest.approx(first_write + 61, abs=0.01)
                assert access.logs.filter(kind=LockAccessLog.Kind.RATE_LIMITED).exists()

        # A minute later (at the fake too), the last two codes of each lock go on.
        wired.fake.write_limits(True)
        later = max(LockAccess.objects.filter(provider_id="").values_list("due_at", flat=True))
        with time_machine.travel(later + datetime.timedelta(seconds=1), tick=False):
            assert services.process_due(concurrency=2) == 8
        assert "429 /access_codes/create" not in wired.fake.requests()
    finally:
        wired.fake.write_limits(False)
    for device in locks:
        assert sorted(c.code for c in wired.codes_on(device)) == sorted(
            s.code.value for s in stays
        )


def test_a_cancellation_jumps_the_backlog_a_busy_worker_is_working_through(
    wired, more_locks, monkeypatch
):
    annex, extra = more_locks
    cancelled = book(wired.listing, days_ahead=3, guest="Cancels")
    fall_due_in_booking_order()
    assert services.process_due() == 2  # the code is on the gate and the side door
    for n in range(2):
        book(annex, days_ahead=3 + 2 * n, guest=f"Annex {n}")
    a_minute_ago = timezone.now() - datetime.timedelta(minutes=1)
    LockAccess.objects.filter(device__in=extra).update(
        program_at=a_minute_ago, due_at=a_minute_ago
    )
    # The cancellation's own task waits in the queue behind busy workers: only the run
    # already under way can revoke the code soon.
    monkeypatch.setattr(planning, "enqueue_processing", lambda reservation_id: None)
    wired.fake.set_latency(200)
    worked = []

    def busy_worker():
        try:
            worked.append(services.process_due(concurrency=1))
        finally:
            connections.close_all()

    try:
        worker = threading.Thread(target=busy_worker)
        worker.start()
        time.sleep(0.5)  # into the backlog: eight steps of 0.4 s, one after another
        services.reservation_cancel(reservation=cancelled)
        worker.join(timeout=60)
    finally:
        wired.fake.set_latency(0)

    assert worked == [10]
    logs = LockAccessLog.objects.order_by("at", "pk")
    revoked = logs.filter(kind=LockAccessLog.Kind.REMOVED, access__reservation=cancelled)
    assert revoked.count() == 2
    backlog_done = logs.filter(access__device__in=extra).last().at
    assert revoked.last().at < backlog_done
    assert not wired.codes_on(wired.gate) and not wired.codes_on(wired.side)
