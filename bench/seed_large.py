"""Seed one large organization quickly, with bulk inserts. Prints how long each table took.

At --scale 1 (the default): 1,000 properties, 5,000 listings (two locks each, a primary
and a secondary), 10,000 devices and 200,000 reservations with their codes and about
390,000 lock accesses in the states a year of business leaves behind: most stays are over
(codes removed), some cancelled (codes revoked), one in progress per listing (codes
confirmed, active), the next day's confirmed or not yet confirmed by the lock, later ones
planned, a few pending (no code yet) and a few failing. --scale 0.01 gives 2,000
reservations; sizes scale together.

Every instant that makes work due (programming, removal, pre-arrival check) is at least
three hours away from the seeding's "now", so that nothing falls due while a benchmark
runs on the seeded rows: benchmarks add the due work they measure themselves.

As a library: `seed(scale=...)` on a migrated database (see `bench_database`). As a
script: `.venv/bin/python bench/seed_large.py [--scale S]` seeds a throwaway database (a
temporary SQLite file, or `test_<name>` beside DATABASE_URL's PostgreSQL database) and
drops it afterwards.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Per organization at --scale 1.
PROPERTIES = 1_000
LISTINGS_PER_PROPERTY = 5
STAYS_PER_LISTING = 40  # 5,000 listings x 40 = 200,000 reservations
BATCH = 2_000
# The stays of this many listings are planned and inserted together (10,000 stays).
LISTINGS_PER_CHUNK = 250
# Due instants sit this far from every multiple of a day after "now" (see the docstring).
CLEAR_OF_NOW = datetime.timedelta(hours=3)
ZONES = ["Europe/Lisbon", "Europe/London", "Europe/Paris", "America/New_York", "Asia/Tokyo"]
FIRST_NAMES = ["Ana", "Ben", "Chloé", "Dev", "Eva", "Filipe", "Grace", "Hiro", "Inês", "Jon"]
LAST_NAMES = ["Sousa", "Smith", "Martin", "Patel", "Costa", "Tanaka", "Silva", "Brown"]


def configure(database_url: str | None = None) -> None:
    """Django settings for a benchmark: the test settings (synchronous django-q2, a fixed
    encryption key) on DATABASE_URL, else on a temporary SQLite file."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    elif not os.environ.get("DATABASE_URL"):
        workdir = tempfile.mkdtemp(prefix="keystay-bench-scale-")
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{Path(workdir) / 'bench.sqlite3'}"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


@contextlib.contextmanager
def bench_database():
    """A fresh, migrated database for one benchmark, dropped afterwards.

    PostgreSQL: `test_<name>` beside DATABASE_URL's database (as pytest-django does), never
    the database itself. SQLite: a new temporary file.
    """
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    settings_dict = connection.settings_dict
    workdir = None
    if connection.vendor == "sqlite":
        workdir = Path(tempfile.mkdtemp(prefix="keystay-bench-scale-"))
        settings_dict.setdefault("TEST", {})["NAME"] = str(workdir / "bench.sqlite3")
    setup_test_environment(debug=False)
    old_name = settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            # A throwaway database: no need to wait for the disk at each commit.
            cursor.execute("PRAGMA synchronous=OFF")
    try:
        yield connection
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class Seeded:
    """What the seeding made, for the benchmarks that read it."""

    organization: object
    manager: object
    api_key: str
    now: datetime.datetime
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    # One stay's code, for the search by exact code.
    sample_code: str = ""

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())


def sizes(scale: float) -> dict[str, int]:
    properties = max(1, round(PROPERTIES * scale))
    listings = properties * LISTINGS_PER_PROPERTY
    return {
        "properties": properties,
        "listings": listings,
        "devices": listings * 2,
        "reservations": listings * STAYS_PER_LISTING,
    }


class _Timer:
    def __init__(self, seeded: Seeded, echo):
        self.seeded, self.echo = seeded, echo

    @contextlib.contextmanager
    def step(self, name: str, *, report: bool = True):
        """Time a step (added to the steps of that name before); `report`: print it
        now (else `report` prints the total later)."""
        start = time.perf_counter()
        yield
        elapsed = time.perf_counter() - start
        self.seeded.seconds[name] = self.seeded.seconds.get(name, 0.0) + elapsed
        if report:
            self.report(name)

    def report(self, name: str) -> None:
        if self.echo:
            count = self.seeded.counts.get(name)
            rows = f"{count:>8,} rows " if count is not None else " " * 14
            self.echo(f"  {name:<18}{rows}{self.seeded.seconds[name]:7.2f} s")


def seed(
    *,
    scale: float = 1.0,
    name: str = "Large Lets",
    owner: str = "large-manager",
    now: datetime.datetime | None = None,
    echo=print,
    rng_seed: int = 16,
) -> Seeded:
    """Seed one organization of `scale` x the full size; returns it, its manager, an API
    key of it and the time each table took."""
    from django.db import transaction
    from django.utils import timezone

    from api.models import OrganizationAPIKey
    from core.crypto import code_digest, encrypt
    from locks.models import Device, LockAssignment, LockProviderConnection
    from properties.models import Listing, Property
    from properties.services import organization_create
    from reservations.models import LockAccess, Reservation, ReservationCode

    rng = random.Random(rng_seed)
    now = (now or timezone.now()).replace(microsecond=0)
    size = sizes(scale)
    organization, _ = organization_create(name=name, owner_username=owner)
    manager = organization.memberships.get().user
    _, api_key = OrganizationAPIKey.objects.create_key(
        name="bench", organization=organization, role=OrganizationAPIKey.Role.MANAGER
    )
    seeded = Seeded(organization=organization, manager=manager, api_key=api_key, now=now)
    timer = _Timer(seeded, echo)
    if echo:
        echo(
            f"seeding {name!r}: {size['properties']:,} properties, {size['listings']:,} "
            f"listings, {size['devices']:,} devices, {size['reservations']:,} reservations"
        )

    with transaction.atomic():
        seeded.counts["properties"] = size["properties"]
        with timer.step("properties"):
            properties = Property.objects.bulk_create(
                (
                    Property(
                        organization=organization,
                        name=f"Building {i:04d}",
                        address=f"{i} Harbour Street",
                        time_zone=ZONES[i % len(ZONES)],
                    )
                    for i in range(size["properties"])
                ),
                batch_size=BATCH,
            )
        seeded.counts["listings"] = size["listings"]
        with timer.step("listings"):
            listings = Listing.objects.bulk_create(
                (
                    Listing(
                        organization=organization,
                        property=prop,
                        name=f"{prop.name} flat {k + 1}",
                        external_id=f"PMS-{i * LISTINGS_PER_PROPERTY + k:06d}",
                    )
                    for i, prop in enumerate(properties)
                    for k in range(LISTINGS_PER_PROPERTY)
                ),
                batch_size=BATCH,
            )
        seeded.counts["devices"] = size["devices"]
        with timer.step("devices"):
            connections = [
                LockProviderConnection.objects.create(
                    organization=organization, name=f"Seam workspace {n + 1}"
                )
                for n in range(2)
            ]
            devices = Device.objects.bulk_create(
                (
                    Device(
                        organization=organization,
                        connection=connections[i % 2],
                        provider_device_id=f"bench-device-{i:06d}",
                        name=f"{listing.name} {'front door' if i % 2 == 0 else 'gate'}",
                        manufacturer=("August", "Schlage", "Yale")[i % 3],
                        model="Wi-Fi Smart Lock",
                        online=rng.random() > 0.01,
                        # A fleet kept up: a few locks in thirty under 20%.
                        battery_level=round(
                            rng.uniform(0.05, 0.2) if rng.random() < 0.03 else rng.uniform(0.3, 1),
                            2,
                        ),
                        supported_code_lengths=[4, 5, 6],
                        max_active_codes=100,
                        last_synced_at=now,
                        reconciled_at=now,
                    )
                    for n, listing in enumerate(listings)
                    for i in (2 * n, 2 * n + 1)
                ),
                batch_size=BATCH,
            )
        seeded.counts["assignments"] = len(devices)
        with timer.step("assignments"):
            assignments = LockAssignment.objects.bulk_create(
                (
                    LockAssignment(
                        listing=listing,
                        device=devices[2 * n + k],
                        role="primary" if k == 0 else "secondary",
                        guest_access=True,
                    )
                    for n, listing in enumerate(listings)
                    for k in (0, 1)
                ),
                batch_size=BATCH,
            )

        # The three large tables skip the ORM's per-value work (9 in 10 of bulk_create's
        # time here): rows are plain tuples with ids chosen up front, inserted with one
        # executemany (SQLite) or COPY (PostgreSQL). Their stays are planned, encrypted
        # and inserted LISTINGS_PER_CHUNK listings at a time, never all held at once.
        first_id = _next_id(Reservation)
        pairs = [(a.pk, a.device_id) for a in assignments]
        for name in ("reservations", "codes", "lock accesses"):
            seeded.counts[name] = 0
        for first in range(0, len(listings), LISTINGS_PER_CHUNK):
            stays = _plan_stays(
                listings[first : first + LISTINGS_PER_CHUNK],
                now,
                rng,
                first_listing=first,
                first_stay=seeded.counts["reservations"],
            )
            with timer.step("reservations", report=False):
                for n, stay in enumerate(stays, start=seeded.counts["reservations"]):
                    stay.pk = first_id + n
                insert_rows(Reservation, (stay.reservation_row(organization.pk) for stay in stays))
            seeded.counts["reservations"] += len(stays)
            with timer.step("encrypting codes", report=False):
                # One ciphertext per stay, shared by its code and its locks (Fernet tokens
                # are salted, so equal codes never look alike at rest anyway). With its
                # keyed hash, as every write of a code keeps it (the exact-code search).
                for stay in stays:
                    if stay.status != Reservation.Status.PENDING:
                        code = f"{rng.randrange(10**6):06d}"
                        stay.ciphertext, stay.digest = encrypt(code), code_digest(code)
                        middle = size["reservations"] // 2 <= stay.pk - first_id
                        if middle and not seeded.sample_code:
                            seeded.sample_code = code
            codes = sum(1 for stay in stays if stay.ciphertext)
            seeded.counts["codes"] += codes
            with timer.step("codes", report=False):
                insert_rows(
                    ReservationCode,
                    (
                        {
                            "reservation_id": stay.pk,
                            "code_ciphertext": stay.ciphertext,
                            "code_digest": stay.digest,
                            "generated_at": stay.confirmed_at,
                            "sent_at": stay.confirmed_at if stay.sent else None,
                        }
                        for stay in stays
                        if stay.ciphertext
                    ),
                )
            seeded.counts["lock accesses"] += 2 * codes
            with timer.step("lock accesses", report=False):
                insert_rows(
                    LockAccess,
                    (
                        access
                        for stay in stays
                        for access in stay.access_rows(pairs, organization.pk, now)
                    ),
                )
        for name in ("reservations", "encrypting codes", "codes", "lock accesses"):
            timer.report(name)
    from django.db import connection

    # Fresh statistics, as a database that grew over a year would have; on PostgreSQL its
    # visibility map too (autovacuum's work on a live database), without which no read
    # is answered from an index alone.
    with timer.step("analyze"), connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    return seeded


@dataclass
class _Stay:
    """One planned reservation, before it has a primary key."""

    listing_index: int
    listing: object
    check_in: datetime.datetime
    check_out: datetime.datetime
    status: str
    guest: str
    confirmed_at: datetime.datetime | None
    cancelled_at: datetime.datetime | None = None
    ended_at: datetime.datetime | None = None
    arrived_at: datetime.datetime | None = None
    prearrival_check_at: datetime.datetime | None = None
    booked_at: datetime.datetime | None = None
    pk: int = 0
    sent: bool = False
    failing: bool = False
    unconfirmed: bool = False
    ciphertext: str = ""
    digest: str = ""

    def reservation_row(self, organization_id: int) -> dict:
        from core.search_text import guest_search_text

        email = f"{self.guest.lower().replace(' ', '.')}@example.com"
        phone = f"+3519{self.pk * 7919 % 10**8:08d}"
        external_id = f"BK-{self.pk:07d}"
        return {
            "id": self.pk,
            "organization_id": organization_id,
            "listing_id": self.listing.pk,
            "guest_name": self.guest,
            "guest_email": email,
            "guest_phone": phone,
            "search_text": guest_search_text(
                name=self.guest, email=email, phone=phone, external_id=external_id
            ),
            "check_in": self.check_in,
            "check_out": self.check_out,
            "status": self.status,
            "source": "channel manager",
            "external_id": external_id,
            "confirmed_at": self.confirmed_at,
            "cancelled_at": self.cancelled_at,
            "ended_at": self.ended_at,
            "arrived_at": self.arrived_at,
            "prearrival_check_at": self.prearrival_check_at,
            "created_at": self.booked_at,
            "updated_at": self.confirmed_at or self.booked_at,
        }

    def access_rows(self, assignments: list[tuple[int, int]], organization_id: int, now):
        """The stay's part on each of its listing's two locks, as the lifecycle leaves it.

        `assignments`: (assignment id, device id) of every lock, two per listing in order.
        """
        from reservations.models import LockAccess

        if not self.ciphertext:
            return
        State, Reason = LockAccess.State, LockAccess.Reason
        starts, ends = self.check_in, self.check_out
        program_at = starts - datetime.timedelta(days=1)  # the default lead time
        for k in (0, 1):
            assignment_id, device_id = assignments[2 * self.listing_index + k]
            row = {
                "organization_id": organization_id,
                "reservation_id": self.pk,
                "assignment_id": assignment_id,
                "device_id": device_id,
                "code_ciphertext": self.ciphertext,
                "code_digest": self.digest,
                "starts_at": starts,
                "ends_at": ends,
                "program_at": program_at,
                "created_at": self.confirmed_at,
                "updated_at": min(max(program_at, self.confirmed_at), now),
            }
            on_provider = program_at <= now
            if self.cancelled_at or self.ended_at:
                row["wanted"] = False
                row["reason"] = Reason.CANCELLED if self.cancelled_at else Reason.ENDED_EARLY
                row["state"] = State.REVOKED if self.cancelled_at else State.REMOVED
                row["removed_at"] = row["updated_at"] = self.cancelled_at or self.ended_at
            elif ends <= now:
                row["state"] = State.REMOVED
                row["removal_requested_at"] = row["removed_at"] = row["updated_at"] = ends
            elif not on_provider:
                row["state"] = State.PLANNED
                row["due_at"] = program_at
            elif self.failing and k == 1:
                row["state"] = State.FAILED
                row["attempts"] = 3
                row["last_error"] = "The lock is offline."
                row["last_error_at"] = now - datetime.timedelta(minutes=5)
                # The next try, after the benchmarks are done.
                row["due_at"] = now + CLEAR_OF_NOW - datetime.timedelta(minutes=30)
                on_provider = False
            else:
                unconfirmed = self.unconfirmed and starts > now
                row["state"] = State.REQUESTED if unconfirmed else State.CONFIRMED
                row["due_at"] = ends  # the removal
                row["confirmed_at"] = None if unconfirmed else program_at
            if on_provider:
                row["provider_id"] = f"bench-code-{self.pk}-{k}"
                row["provider_code_ciphertext"] = self.ciphertext
                row["provider_code_digest"] = self.digest
                row["provider_starts_at"], row["provider_ends_at"] = starts, ends
                row["programmed_at"] = program_at
            yield row


def _next_id(model) -> int:
    from django.db.models import Max

    return (model.objects.aggregate(top=Max("pk"))["top"] or 0) + 1


def insert_rows(model, rows, *, chunk: int = 20_000) -> int:
    """Insert rows (dicts of field attnames to Python values; omitted fields take their
    default) in bulk, without the ORM's per-value preparation. Returns how many.

    For the large tables of a benchmark only: no signals, no `save()`, no validation.
    """
    import functools
    import itertools

    from django.core.management.color import no_style
    from django.db import connection
    from django.db.models import DateTimeField, JSONField

    fields = [f for f in model._meta.concrete_fields]
    if any(isinstance(f, JSONField) for f in fields):
        raise ValueError(f"{model.__name__}: JSON fields are not supported here")
    names = [f.attname for f in fields]
    defaults = {f.attname: f.get_default() for f in fields if not f.primary_key}
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    sqlite = connection.vendor == "sqlite"
    instants = {f.attname for f in fields if isinstance(f, DateTimeField)}

    @functools.cache
    def sqlite_instant(value: datetime.datetime) -> str:
        # Django's SQLite format: naive UTC, "YYYY-MM-DD HH:MM:SS[.ffffff]".
        return str(value.astimezone(datetime.UTC).replace(tzinfo=None))

    def as_tuple(row: dict) -> tuple:
        if sqlite:
            for name, value in row.items():
                if value is not None and name in instants:
                    row[name] = sqlite_instant(value)
        return tuple(row[name] if name in row else defaults[name] for name in names)

    count = 0
    with connection.cursor() as cursor:
        rows = iter(rows)
        next_id = _next_id(model)
        while batch := list(itertools.islice(rows, chunk)):
            for row in batch:
                if "id" not in row:
                    row["id"] = next_id
                    next_id += 1
            tuples = [as_tuple(row) for row in batch]
            if sqlite:
                marks = ", ".join(["%s"] * len(names))
                cursor.executemany(
                    f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({marks})",
                    tuples,
                )
            else:
                with cursor.cursor.copy(
                    f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
                ) as copy:
                    for values in tuples:
                        copy.write_row(values)
            count += len(tuples)
            next_id = max(next_id, max(row["id"] for row in batch) + 1)
        if not sqlite:  # the next ORM insert takes the next free id
            for statement in connection.ops.sequence_reset_sql(no_style(), [model]):
                cursor.execute(statement)
    return count


def _plan_stays(listings, now, rng, *, first_listing: int, first_stay: int) -> list[_Stay]:
    """40 stays a listing, back to back with gaps, most over, about 15% still ahead.
    `first_listing`, `first_stay`: how many listings and stays chunks before planned."""
    from reservations.models import Reservation

    Status = Reservation.Status
    day = datetime.timedelta(days=1)
    # Every check-in is 3 h after a multiple of a day from now, every check-out 3 h
    # before one: programming (a day before check-in), removal and pre-arrival checks
    # never fall due within 3 hours of now.
    stays = []
    for n, listing in enumerate(listings, start=first_listing):
        start_day = -rng.randint(145, 165)
        for _ in range(STAYS_PER_LISTING):
            nights = rng.choice((1, 2, 2, 3, 3, 4, 5, 7))
            check_in = now + start_day * day + CLEAR_OF_NOW
            check_out = now + (start_day + nights) * day - CLEAR_OF_NOW
            start_day += nights + rng.choice((0, 0, 1, 1, 2, 3))
            number = first_stay + len(stays)
            guest = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)} {n}-{number}"
            booked = check_in - rng.randint(3, 60) * day
            stay = _Stay(
                listing_index=n,
                listing=listing,
                check_in=check_in,
                check_out=check_out,
                status=Status.CONFIRMED,
                guest=guest,
                confirmed_at=min(booked, now),
                booked_at=min(booked, now),
            )
            roll = rng.random()
            if check_in > now and roll < 0.05:
                stay.status, stay.confirmed_at = Status.PENDING, None
            elif roll < 0.07:
                stay.status = Status.CANCELLED
                stay.cancelled_at = min(check_in - day, now)
            elif check_out <= now and roll < 0.09:
                stay.status = Status.CHECKED_OUT
                stay.ended_at = check_out - datetime.timedelta(hours=5)
            if stay.status == Status.CONFIRMED or stay.ended_at:
                stay.sent = check_in - day <= now
                if check_in <= now:
                    stay.arrived_at = check_in + datetime.timedelta(minutes=rng.randint(5, 300))
                elif check_in - day > now:
                    stay.prearrival_check_at = check_in - day
                stay.failing = check_out > now and rng.random() < 0.03
                stay.unconfirmed = rng.random() < 0.1
            stays.append(stay)
    return stays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1 = 200,000 reservations")
    args = parser.parse_args()
    configure()
    with bench_database() as connection:
        start = time.perf_counter()
        seeded = seed(scale=args.scale)
        elapsed = time.perf_counter() - start
        rows = sum(seeded.counts.values())
        print(
            f"seeded {rows:,} rows in {elapsed:.1f} s on {connection.vendor} "
            f"({rows / elapsed:,.0f} rows/s)"
        )


if __name__ == "__main__":
    main()
