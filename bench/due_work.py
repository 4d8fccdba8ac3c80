"""The due-work query and the sweep on a seeded organization, with a fixed number of steps
due: their cost must follow what is due, not the size of the tables.

On top of the seeded rows (where nothing is due for three hours), each round books
`steps` stays starting within the day on `steps` locks of Seam's fake, each lock's code
due now, and times one `process_due()` pass (the sweep's unit of work): it finds the due
rows, claims each, creates the code at the fake through the real SDK and records it; its
time in the database (every query's, summed) is printed beside it, since the fake's
answers make most of the wall time. An idle pass (nothing due) is the due query alone.
The periodic read-back's choice of locks (`locks_due_for_reconcile`) and the pre-arrival
checks' due query are timed beside it.

Used by `bench/scale.py`.
"""

from __future__ import annotations

import datetime
import random
import statistics
import time
from dataclasses import dataclass, field

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone


@dataclass
class DueFigures:
    reservations: int
    steps: int
    sweep_ms: list[float] = field(default_factory=list)
    sweep_db_ms: list[float] = field(default_factory=list)
    worked: list[int] = field(default_factory=list)
    due_query_ms: list[float] = field(default_factory=list)
    sweep_queries: int = 0
    idle_ms: float = 0.0
    reconcile_ms: float = 0.0
    reconcile_locks: int = 0
    prearrival_ms: float = 0.0
    plan: list[str] = field(default_factory=list)

    @property
    def sweep(self) -> float:
        return statistics.median(self.sweep_ms)

    @property
    def sweep_db(self) -> float:
        return statistics.median(self.sweep_db_ms)

    @property
    def due_query(self) -> float:
        return statistics.median(self.due_query_ms)


def _wire_fake_locks(seeded, fake, steps: int):
    """`steps` listings of a new property, each with one lock of the fake as primary."""
    from locks.models import Device, LockAssignment
    from locks.services import connection_create, devices_sync
    from properties.models import Listing, Property

    fake.reset()
    added = fake.add_locks(steps)
    organization = seeded.organization
    seam = connection_create(
        organization=organization, name="Seam (fake)", api_key=fake.api_key, endpoint=fake.url
    )
    devices_sync(connection=seam)
    devices = list(Device.objects.filter(connection=seam, provider_device_id__in=added))
    prop = Property.objects.create(
        organization=organization, name="Due work", time_zone="Europe/Lisbon"
    )
    listings = Listing.objects.bulk_create(
        Listing(organization=organization, property=prop, name=f"Due flat {n}")
        for n in range(len(devices))
    )
    return LockAssignment.objects.bulk_create(
        LockAssignment(listing=listing, device=device, role="primary")
        for listing, device in zip(listings, devices, strict=True)
    )


def _book_due_stays(seeded, assignments, round_no: int, rng) -> None:
    """One confirmed stay per lock, starting in a few hours, its code due on the lock now."""
    from reservations.models import LockAccess, Reservation, ReservationCode

    now = timezone.now().replace(microsecond=0)
    check_in = now + datetime.timedelta(hours=1 + 3 * round_no)
    check_out = check_in + datetime.timedelta(hours=2)
    stays = Reservation.objects.bulk_create(
        Reservation(
            organization=seeded.organization,
            listing_id=assignment.listing_id,
            guest_name=f"Due guest {round_no}-{n}",
            check_in=check_in,
            check_out=check_out,
            status=Reservation.Status.CONFIRMED,
            confirmed_at=now,
        )
        for n, assignment in enumerate(assignments)
    )
    codes, accesses = [], []
    for stay, assignment in zip(stays, assignments, strict=True):
        code = ReservationCode(reservation=stay, generated_at=now)
        code.value = f"{rng.randrange(100000, 1000000)}"
        codes.append(code)
        access = LockAccess(
            organization=seeded.organization,
            reservation=stay,
            assignment=assignment,
            device_id=assignment.device_id,
            starts_at=check_in,
            ends_at=check_out,
            program_at=now - datetime.timedelta(seconds=1),
            due_at=now - datetime.timedelta(seconds=1),
            code_ciphertext=code.code_ciphertext,
        )
        accesses.append(access)
    ReservationCode.objects.bulk_create(codes)
    LockAccess.objects.bulk_create(accesses)


def _explain(sql: str) -> list[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            return [row[-1] for row in cursor.fetchall()]
        cursor.execute(f"EXPLAIN {sql}")
        return [row[0] for row in cursor.fetchall()]


def _timed(function, runs: int) -> float:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


def measure(seeded, *, fake, steps: int = 100, rounds: int = 3, idle_runs: int = 20):
    from reservations.prearrival import prearrival_run_due
    from reservations.readback import locks_due_for_reconcile
    from reservations.services import process_due

    rng = random.Random(round(seeded.counts["reservations"]))
    figures = DueFigures(reservations=seeded.counts["reservations"], steps=steps)
    assignments = _wire_fake_locks(seeded, fake, steps)
    figures.idle_ms = _timed(process_due, idle_runs)
    figures.prearrival_ms = _timed(prearrival_run_due, idle_runs)
    figures.reconcile_ms = _timed(locks_due_for_reconcile, 5)
    figures.reconcile_locks = len(locks_due_for_reconcile())
    for round_no in range(rounds):
        _book_due_stays(seeded, assignments, round_no, rng)
        timer = _QueryTimer()
        with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(timer):
            start = time.perf_counter()
            worked = process_due()
            figures.sweep_ms.append((time.perf_counter() - start) * 1000)
        figures.worked.append(worked)
        figures.sweep_db_ms.append(sum(ms for _, ms in timer.queries))
        figures.sweep_queries = len(captured.captured_queries)
        # The due query: the first one that orders rows by their due instant.
        index = next(
            i for i, (sql, _) in enumerate(timer.queries) if "ORDER BY" in sql and "due_at" in sql
        )
        figures.due_query_ms.append(timer.queries[index][1])
        if round_no == 0:
            figures.plan = _explain(captured.captured_queries[index]["sql"])
    return figures


class _QueryTimer:
    """Each query's SQL and its milliseconds, to the microsecond."""

    def __init__(self):
        self.queries: list[tuple[str, float]] = []

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.queries.append((sql, (time.perf_counter() - start) * 1000))
