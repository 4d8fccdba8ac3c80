"""Two workers on the same due work put exactly one code on each lock (PostgreSQL)."""

import datetime
import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from reservations import services
from reservations.models import LockAccess

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="row claims between processes are exercised on PostgreSQL (CI runs both)",
    ),
]


def test_two_workers_on_the_same_due_work_put_one_code_per_lock(wired):
    # Stays far enough ahead that booking them programs nothing yet...
    reservations = [
        wired.book(days_ahead=days, nights=1, guest_name=f"Guest {days}") for days in (3, 5, 7)
    ]
    assert not wired.codes_on(wired.gate)
    # ...then all their work falls due at once, for both workers to see.
    a_minute_ago = timezone.now() - datetime.timedelta(minutes=1)
    LockAccess.objects.update(program_at=a_minute_ago, due_at=a_minute_ago)
    start = threading.Barrier(2)
    worked, errors = [], []

    def worker():
        try:
            start.wait()
            worked.append(services.process_due())
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert sum(worked) == 6  # each row worked on once, by one worker or the other
    for device in (wired.gate, wired.side):
        codes = sorted(c.code for c in wired.codes_on(device))
        assert codes == sorted(r.code.value for r in reservations)
    assert set(LockAccess.objects.values_list("state", flat=True)) == {LockAccess.State.REQUESTED}
