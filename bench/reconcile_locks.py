"""Door truth at scale: read back every lock's codes from Seam's fake. Prints; asserts nothing.

Seeds N locks on the fake (the launcher's /devices/add_locks), imports them, gives each
20 codes that Keystay knows (LockAccess rows written in bulk, confirmed; each code created
at the fake through the real SDK), adds a few drift cases, then times
`lock_reconcile` over the locks with one shared gateway and counts the Seam calls the
fake received (its launcher counts requests per route, whichever client sent them).

Drift: 10 codes deleted in the lock's app (re-created: the worker puts them back), 5
Keystay-named codes no stay wants (strays, removed), 5 codes changed in the lock's app
(noted; Seam gets a grace period to restore them).

Seam's fake alone answers access_codes/list with every code of the workspace (it ignores
device_id); the project's launcher answers with the lock's codes only, as Seam does, so
the pass measures Keystay, not the fake (before it did, a pass over 1,000 locks took 15 to
18 minutes on a 2-core machine). By default every lock is reconciled
(BENCH_RECONCILE_SAMPLE=n reconciles the first n locks, which hold every drift case, and
extrapolates). Goals: the full pass over 1,000 locks x 20 codes in <= 60 s, at most one
managed and one unmanaged list per lock plus the repairs.

Run with `make bench` or `.venv/bin/python bench/reconcile_locks.py [sizes...]`.
"""

import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORKDIR = Path(tempfile.mkdtemp(prefix="keystay-bench-reconcile-"))
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
os.environ["DATABASE_URL"] = f"sqlite:///{WORKDIR / 'bench.sqlite3'}"
os.environ["KEYSTAY_DEMO"] = "false"
os.environ.setdefault("LOG_LEVEL", "WARNING")

CODES_PER_LOCK = 20
SIZES = (100, 1000)
DELETED, STRAYS, CHANGED = 10, 5, 5  # drift cases, on the first locks
DRIFT_LOCKS = DELETED + STRAYS + CHANGED


def sample_size() -> int | None:
    raw = os.environ.get("BENCH_RECONCILE_SAMPLE", "all").strip().lower()
    return None if raw in ("all", "0", "") else max(int(raw), DRIFT_LOCKS)


def seed(*, fake, seam, size: int):
    """An organization with `size` locks at the fake, each holding 20 codes Keystay knows."""
    from django.utils import timezone

    from locks.models import Device, LockAssignment
    from locks.services import connection_create, devices_sync
    from properties.models import Listing, Property
    from properties.services import organization_create
    from reservations.models import LockAccess, Reservation, ReservationCode
    from reservations.provisioning import _access_name

    fake.reset()
    added = fake.add_locks(size)
    organization, _ = organization_create(name=f"Bench {size}", owner_username=f"bench{size}")
    prop = Property.objects.create(organization=organization, name="Block", time_zone="UTC")
    connection = connection_create(
        organization=organization, name="Fake", api_key=fake.api_key, endpoint=fake.url
    )
    devices_sync(connection=connection)
    order = {device_id: i for i, device_id in enumerate(added)}
    devices = sorted(
        Device.objects.filter(connection=connection, provider_device_id__in=added),
        key=lambda d: order[d.provider_device_id],
    )
    listings = Listing.objects.bulk_create(
        Listing(
            organization=organization, property=prop, name=f"Flat {i}", code_lead_time_minutes=0
        )
        for i in range(size)
    )
    assignments = LockAssignment.objects.bulk_create(
        LockAssignment(listing=listing, device=device, role="primary", guest_access=True)
        for listing, device in zip(listings, devices, strict=True)
    )
    # Twenty one-night stays per flat, the first one in progress.
    now = timezone.now().replace(microsecond=0)
    first = now - datetime.timedelta(hours=12)
    stays = Reservation.objects.bulk_create(
        Reservation(
            organization=organization,
            listing=listing,
            guest_name=f"Guest {i}-{k}",
            check_in=first + datetime.timedelta(days=k),
            check_out=first + datetime.timedelta(days=k + 1),
            status=Reservation.Status.CONFIRMED,
            confirmed_at=now,
        )
        for i, listing in enumerate(listings)
        for k in range(CODES_PER_LOCK)
    )
    codes = [f"{100000 + n}" for n in range(len(stays))]  # 6 digits, one per stay
    rows = []
    for n, stay in enumerate(stays):
        row = ReservationCode(reservation=stay, generated_at=now, sent_at=now)
        row.value = codes[n]
        rows.append(row)
    ReservationCode.objects.bulk_create(rows)
    accesses = []
    for n, stay in enumerate(stays):
        i = n // CODES_PER_LOCK
        access = LockAccess(
            organization=organization,
            reservation=stay,
            assignment=assignments[i],
            device=devices[i],
            starts_at=stay.check_in,
            ends_at=stay.check_out,
            program_at=stay.check_in,
            state=LockAccess.State.CONFIRMED,
            provider_starts_at=max(stay.check_in, now),
            provider_ends_at=stay.check_out,
            programmed_at=now,
            confirmed_at=now,
            due_at=stay.check_out,
        )
        access.code = access.provider_code = codes[n]
        accesses.append(access)
    started = time.perf_counter()
    for access in accesses:  # each code at the fake through the real SDK, as the worker would
        created = seam.access_codes.create(
            device_id=access.device.provider_device_id,
            code=access.code,
            name=_access_name(access),
            starts_at=access.provider_starts_at.isoformat(),
            ends_at=access.provider_ends_at.isoformat(),
        )
        access.provider_id = created.access_code_id
    creating = time.perf_counter() - started
    LockAccess.objects.bulk_create(accesses, batch_size=1000)

    # Drift. Deleted in the lock's app (the code of the stay in progress): Keystay must put
    # it back at once (a later stay's code would be put back at its programming time).
    for i in range(DELETED):
        fake.delete_external(accesses[i * CODES_PER_LOCK].provider_id)
    # Strays: a code named for a stay this lock no longer serves (the stay of another flat).
    for i in range(DELETED, DELETED + STRAYS):
        other = stays[(i + size // 2) % size * CODES_PER_LOCK]
        seam.access_codes.create(
            device_id=devices[i].provider_device_id,
            code=f"{900000 + i}",
            name=f"KS{other.pk}-{devices[i].pk} {other.guest_name}",
        )
    # Changed in the lock's app: Seam usually restores these; Keystay waits a grace period.
    for i in range(DELETED + STRAYS, DRIFT_LOCKS):
        fake.modify_external(accesses[i * CODES_PER_LOCK + 2].provider_id, code=f"{800000 + i}")
    return connection, devices, creating


def run(*, fake, seam, size: int, sample: int | None) -> None:
    from django.utils import timezone

    from locks.gateway import SeamGateway
    from locks.models import Device
    from reservations.readback import ReconcileResult, lock_reconcile
    from reservations.services import process_due

    print(f"\n{size:,} locks x {CODES_PER_LOCK} codes ({size * CODES_PER_LOCK:,} Keystay codes)")
    started = time.perf_counter()
    connection, devices, creating = seed(fake=fake, seam=seam, size=size)
    print(
        f"  seeded in {time.perf_counter() - started:.0f} s "
        f"({creating:.0f} s creating the codes at the fake through the SDK)"
    )
    chosen = devices if sample is None or sample >= size else devices[:sample]
    chosen = list(
        Device.objects.select_related("connection").filter(pk__in=[d.pk for d in chosen])
    )
    fake.requests(clear=True)
    total = ReconcileResult()
    per_lock: list[float] = []
    now = timezone.now()
    with SeamGateway.for_connection(connection) as gateway:
        started, cpu = time.perf_counter(), time.process_time()
        for device in chosen:
            began = time.perf_counter()
            result = lock_reconcile(device=device, gateway=gateway, now=now)
            per_lock.append(time.perf_counter() - began)
            total.calls += result.calls
            total.findings.update(result.findings)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    calls = fake.requests(clear=True)
    lists = calls.pop("/access_codes/list", 0)
    unmanaged = calls.pop("/access_codes/unmanaged/list", 0)
    repairs = sum(calls.values())
    seam_calls = lists + unmanaged + repairs
    n = len(chosen)
    per_lock.sort()
    print(
        f"  reconciled {n:,} of {size:,} locks in {wall:.1f} s (goal for 1,000 locks: <= 60 s): "
        f"{wall / n * 1000:.0f} ms per lock (median {per_lock[n // 2] * 1000:.0f} ms, "
        f"slowest {per_lock[-1] * 1000:.0f} ms), Keystay's CPU {cpu / n * 1000:.0f} ms per lock"
    )
    if n < size:
        print(
            f"  all {size:,} locks at this rate: ~{wall / n * size:.0f} s "
            "(BENCH_RECONCILE_SAMPLE=all measures it)"
        )
    repaired = ", ".join(f"{count} {route}" for route, count in sorted(calls.items()))
    print(
        f"  Seam calls: {seam_calls:,} ({seam_calls / n:.2f} per lock) = {lists:,} managed "
        f"lists + {unmanaged:,} unmanaged lists ({(lists + unmanaged) / n:.2f} reads per "
        f"lock; goal <= 2) + {repairs} repairs ({repaired or 'none'}); readback counted "
        f"{total.calls:,}"
    )
    print(f"  findings: {total}")
    started = time.perf_counter()
    worked = process_due()
    calls = fake.requests(clear=True)
    print(
        f"  then the worker (process_due) put back {worked} codes in "
        f"{time.perf_counter() - started:.1f} s: "
        + ", ".join(f"{count} {route}" for route, count in sorted(calls.items()))
    )


def main() -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from locks.seam_transport import make_seam_client
    from tests.seam_fake import start_fake_seam

    sizes = [int(arg) for arg in sys.argv[1:]] or list(SIZES)
    call_command("migrate", verbosity=0)
    # Without auto-confirmation: the fake's codes stay "setting" (Keystay's rows say
    # confirmed, which a reconcile leaves alone); confirming 20,000 codes one by one
    # would cost the fake minutes (each update copies its list of codes).
    fake = start_fake_seam()
    settings.SEAM_ALLOWED_ENDPOINTS = [fake.url]
    seam = make_seam_client(api_key=fake.api_key, endpoint=fake.url)
    print(
        "Door truth: lock_reconcile over every lock, one shared gateway "
        "(Seam's fake through the project's launcher, which lists one lock's codes as Seam "
        "does; SQLite file)"
    )
    try:
        for size in sizes:
            run(fake=fake, seam=seam, size=size, sample=sample_size())
    finally:
        seam.client.close()
        fake.stop()


if __name__ == "__main__":
    main()
