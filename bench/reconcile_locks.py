"""Door truth at scale: the read-back pass over every lock, on Seam's fake. Prints; asserts
nothing.

Seeds N locks on the fake (the launcher's /devices/add_locks), imports them, gives each
20 codes that Keystay knows (LockAccess rows written in bulk, confirmed; each code created
at the fake through the real SDK), adds a few drift cases, then:

- *baseline* (the same run, the same machine): `lock_reconcile` one lock after another in
  this process with one shared client, as this benchmark measured before the pass was
  shared out, and `lock_reconcile_by_id` (a client of its own per lock, as the cluster's
  one-task-per-lock pass did), each on a sample of locks in step; the full pass at that
  rate is extrapolated;
- *the pass*: real `manage.py qcluster` processes (--workers, one worker each, on
  PostgreSQL and, when `redis-server` is installed, on a Redis of the bench's own) run the
  periodic pass as its schedule would (`reservations.tasks.reconcile_locks`): it queues
  the locks in chunks, which the workers read side by side. Timed from the pass's start to
  the last lock's `reconciled_at`, with the workers' CPU time (every process of their
  clusters; Seam's fake and PostgreSQL excluded), their largest resident memory, and the
  machine's load averages (it is shared and noisy).

The fake's launcher counts the Seam calls it receives per route, whichever client sent
them; Seam's fake alone answers access_codes/list with every code of the workspace (it
ignores device_id), the project's launcher answers with the lock's codes only, as Seam
does, so the pass measures Keystay, not the fake. Drift: 10 codes deleted in the lock's app
(re-created: the worker puts them back), 5 Keystay-named codes no stay wants (strays,
removed), 5 codes changed in the lock's app (noted; Seam gets a grace period to restore
them). Goals: the full pass over 1,000 locks x 20 codes in <= 60 s with four workers, at
Seam's 200 ms as the provisioning goals are, at most one managed and one unmanaged list
per lock plus the repairs, worker memory < 300 MB. Each size is seeded once and passed
at each --latency-ms (0 and 200 by default): the second pass finds the drift repaired,
and writes nothing at Seam.

Needs PostgreSQL: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/
keystay_bench_readback); the bench creates and drops the databases <name> and
<name>_template.

Run with `make bench` or `.venv/bin/python bench/reconcile_locks.py [--sizes 100,1000]
[--workers 4] [--latency-ms 0,200]`.
"""

import argparse
import datetime
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORKDIR = Path(tempfile.mkdtemp(prefix="keystay-bench-reconcile-"))
os.environ.setdefault(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/keystay_bench_readback"
)
# The cluster helpers of the provisioning benchmark (PostgreSQL, Redis, qcluster processes
# and their CPU and memory), on this benchmark's own database.
import provisioning as clusters  # noqa: E402

CODES_PER_LOCK = 20
SIZES = (100, 1000)
DELETED, STRAYS, CHANGED = 10, 5, 5  # drift cases, on the first locks
DRIFT_LOCKS = DELETED + STRAYS + CHANGED


BASELINE_SAMPLE = 100  # locks in step read one after another, each way


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000", help="locks per run (20 codes each)")
    parser.add_argument("--workers", type=int, default=4, help="qcluster processes")
    parser.add_argument(
        "--latency-ms",
        default="0,200",
        help="the fake's delay on every answer: a pass at each (comma-separated), one seeding",
    )
    parser.add_argument("--max-seconds", type=float, default=600, help="a pass stops after")
    return parser.parse_args()


IDLE_SECONDS = 10


def process_cpu(pid: int) -> float:
    """CPU seconds used so far by a process (and its waited-for children)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def loads() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


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


def baseline(*, fake, connection, devices) -> None:
    """One lock after another in this process, on locks in step (nothing to repair, so
    the pass that follows finds them as they were): per lock, wall and CPU."""
    from django.utils import timezone

    from locks.gateway import SeamGateway
    from locks.models import Device
    from reservations.readback import lock_reconcile, lock_reconcile_by_id

    sample = devices[DRIFT_LOCKS : DRIFT_LOCKS + BASELINE_SAMPLE]
    if len(sample) < 10:
        return
    chosen = list(
        Device.objects.select_related("connection").filter(pk__in=[d.pk for d in sample])
    )
    half = len(chosen) // 2
    fake.requests(clear=True)
    with SeamGateway.for_connection(connection) as gateway:
        started, cpu = time.perf_counter(), time.process_time()
        for device in chosen[:half]:
            lock_reconcile(device=device, gateway=gateway, now=timezone.now())
        shared = (time.perf_counter() - started) / half, (time.process_time() - cpu) / half
    started, cpu = time.perf_counter(), time.process_time()
    for device in chosen[half:]:
        lock_reconcile_by_id(device.pk)
    rest = len(chosen) - half
    own = (time.perf_counter() - started) / rest, (time.process_time() - cpu) / rest
    calls = fake.requests(clear=True)
    size = len(devices)
    for label, (wall, cpu) in (
        ("one shared client (this benchmark before)", shared),
        ("a client per lock (the cluster's task per lock before)", own),
    ):
        print(
            f"  baseline, one process, one lock after another, {label}: {wall * 1000:.0f} ms "
            f"per lock, CPU {cpu * 1000:.1f} ms per lock -> {size:,} locks in "
            f"~{wall * size:.0f} s"
        )
    print(
        f"    ({len(chosen)} locks in step: "
        + ", ".join(f"{count} {route}" for route, count in sorted(calls.items()))
        + f"; {loads()})"
    )


def cluster_env(*, fake) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "Q_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DJANGO_DEBUG="false",
        KEYSTAY_DEMO="false",
        LOG_LEVEL="WARNING",
        SEAM_ALLOWED_ENDPOINTS=fake.url,
        Q_WORKERS="1",
    )
    return env


def the_pass(*, fake, args, latency_ms: int, log) -> dict:
    """The periodic pass, as its schedule runs it, over every lock, by real clusters."""
    from django.utils import timezone
    from django_q.tasks import async_task

    from locks.models import Device
    from reservations.provisioning import _due

    def put_back_waiting(now) -> bool:
        return _due(now).filter(provider_id="").exists()

    # The fake's seeded locks too: the pass reads every lock of the connection.
    ids = list(
        Device.objects.filter(kind=Device.Kind.LOCK, removed_at=None).values_list("pk", flat=True)
    )
    # Every lock's turn (the baseline read some), nothing queued; no other periodic work.
    Device.objects.filter(pk__in=ids).update(reconciled_at=None, reconcile_queued_until=None)
    clusters.hold_off_periodic_work()
    running = clusters.start_clusters(args.workers, env=cluster_env(fake=fake), log=log)
    try:
        settled = clusters.wait_for_clusters(args.workers, bool(os.environ.get("REDIS_URL")))
        if settled > 10:
            print(f"  (the clusters first did the seeding's queued tasks: {settled:.0f} s)")
        time.sleep(3)  # their start-up's CPU is not the pass's
        fake.set_latency(latency_ms)
        fake.requests(clear=True)
        before = loads()
        cpu, fake_cpu = clusters.cluster_cpu(running), process_cpu(fake.process.pid)
        t0 = timezone.now()
        async_task("reservations.tasks.reconcile_locks", group="reconcile")
        unread = Device.objects.filter(pk__in=ids).filter(reconciled_at=None)
        deadline = time.monotonic() + args.max_seconds
        rss = 0.0
        while time.monotonic() < deadline:
            rss = max(rss, clusters.largest_rss_mb(running))
            if not unread.exists():
                break
            time.sleep(0.25)
        # The codes the pass found gone are put back by the workers meanwhile (a list of
        # the lock, then a create): wait for them too, so that each put-back's list is
        # counted with its create here, and none after.
        while time.monotonic() < deadline and put_back_waiting(timezone.now()):
            time.sleep(0.25)
        cpu = clusters.cluster_cpu(running) - cpu
        fake_cpu = process_cpu(fake.process.pid) - fake_cpu
        after = loads()
        side_by_side, per_lock = fake.overlaps()
        calls = fake.requests(clear=True)
        # What the clusters spend idle (their guards and pushers poll), once the pass and
        # the repairs it queued are done: part of the pass's CPU is theirs.
        time.sleep(2)
        idle = clusters.cluster_cpu(running)
        time.sleep(IDLE_SECONDS)
        idle = (clusters.cluster_cpu(running) - idle) / IDLE_SECONDS
    finally:
        fake.set_latency(0)
        clusters.stop_clusters(running)
    read = list(
        Device.objects.filter(pk__in=ids)
        .exclude(reconciled_at=None)
        .values_list("reconciled_at", flat=True)
    )
    last = max(read) if read else timezone.now()
    if os.environ.get("BENCH_RECONCILE_TASKS"):
        from django_q.models import Task

        for task in Task.objects.filter(group="reconcile").order_by("started"):
            print(
                f"    {task.func.rsplit('.', 1)[1]}: {(task.started - t0).total_seconds():.1f}"
                f" .. {(task.stopped - t0).total_seconds():.1f} s: {task.result}"
            )
    wall = (last - t0).total_seconds()
    return {
        "wall": wall,
        "idle_rate": idle,
        "fake_cpu": fake_cpu,
        "read": len(read),
        "locks": len(ids),
        "cpu": cpu,
        "rss": rss,
        "calls": calls,
        "side_by_side": side_by_side,
        "per_lock": max(per_lock.values(), default=0),
        "before": before,
        "after": after,
    }


def run(*, fake, seam, size: int, args, log) -> None:
    from django.db import connections

    print(f"\n{size:,} locks x {CODES_PER_LOCK} codes ({size * CODES_PER_LOCK:,} Keystay codes)")
    connections.close_all()
    name = clusters.db_name()
    clusters.recreate(name, template=f"{name}_template")
    started = time.perf_counter()
    connection, devices, creating = seed(fake=fake, seam=seam, size=size)
    print(
        f"  seeded in {time.perf_counter() - started:.0f} s "
        f"({creating:.0f} s creating the codes at the fake through the SDK; {loads()})"
    )
    baseline(fake=fake, connection=connection, devices=devices)
    for number, latency_ms in enumerate(int(ms) for ms in args.latency_ms.split(",")):
        if number:
            # The same locks again, slower: the drift was repaired by the pass before.
            print("  again, the drift repaired:")
        one_pass(fake=fake, args=args, latency_ms=latency_ms, log=log)


def one_pass(*, fake, args, latency_ms: int, log) -> None:
    from reservations.services import process_due

    result = the_pass(fake=fake, args=args, latency_ms=latency_ms, log=log)
    calls = dict(result["calls"])
    # The workers put the re-created codes back meanwhile (a list of the lock, then a
    # create, each): those lists are not the pass's.
    put_back = calls.get("/access_codes/create", 0)
    lists = calls.pop("/access_codes/list", 0) - put_back
    unmanaged = calls.pop("/access_codes/unmanaged/list", 0)
    repairs = sum(calls.values())
    n = result["read"]
    stopped = f" (stopped after {args.max_seconds:.0f} s)" if n < result["locks"] else ""
    print(
        f"  the pass, {args.workers} workers (qcluster processes, Q_WORKERS=1, "
        f"KEYSTAY_READBACK_CONCURRENCY={clusters_concurrency()}), {latency_ms} ms "
        f"latency: {n:,} of {result['locks']:,} locks in {result['wall']:.1f} s{stopped} "
        f"(goal for 1,000 locks: <= 60 s); {result['wall'] / max(n, 1) * 1000:.1f} ms per lock"
    )
    print(
        f"      load before {result['before'].removeprefix('load average ')}, after "
        f"{result['after'].removeprefix('load average ')}; workers' CPU {result['cpu']:.1f} s "
        f"= {result['cpu'] / max(n, 1) * 1000:.1f} ms per lock (the clusters idle after the "
        f"pass: {result['idle_rate']:.2f} CPU s per s); Seam's fake's CPU "
        f"{result['fake_cpu']:.1f} s"
    )
    print(
        f"      largest worker process's resident memory {result['rss']:.0f} MB (goal: < 300 MB)"
    )
    print(
        f"      Seam calls: {lists:,} managed lists + {unmanaged:,} unmanaged lists "
        f"({(lists + unmanaged) / max(n, 1):.2f} reads per lock; goal <= 2) + {repairs} "
        f"repairs ({', '.join(f'{c} {r}' for r, c in sorted(calls.items())) or 'none'}; "
        f"{put_back} lists of the workers putting codes back not counted); "
        f"requests side by side: {result['side_by_side']} at most, {result['per_lock']} per lock"
    )
    started = time.perf_counter()
    worked = process_due()
    calls = fake.requests(clear=True)
    print(
        f"  then the worker (process_due) put back the {worked} codes left in "
        f"{time.perf_counter() - started:.1f} s: "
        + ", ".join(f"{count} {route}" for route, count in sorted(calls.items()))
    )


def clusters_concurrency() -> int:
    from django.conf import settings

    return settings.KEYSTAY_READBACK_CONCURRENCY


def main() -> None:
    args = parse_args()
    problem = clusters.postgres_reachable()
    if problem:
        print(
            f"Read-back benchmark skipped: needs PostgreSQL at {clusters.DATABASE_URL} ({problem})"
        )
        return
    redis, redis_url = clusters.start_redis()
    name = clusters.db_name()
    template = f"{name}_template"
    clusters.recreate(template)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DATABASE_URL": clusters.with_db(clusters.DATABASE_URL, template),
            "KEYSTAY_DEMO": "false",
        },
        check=True,
    )
    clusters.recreate(name, template=template)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DJANGO_DEBUG="false",
        DATABASE_URL=clusters.with_db(clusters.DATABASE_URL, name),
        KEYSTAY_DEMO="false",
        LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"),
        REDIS_URL=redis_url,
    )
    import django

    django.setup()
    from django.conf import settings

    from locks.seam_transport import make_seam_client
    from tests.seam_fake import start_fake_seam

    # Without auto-confirmation: the fake's codes stay "setting" (Keystay's rows say
    # confirmed, which a reconcile leaves alone); confirming 20,000 codes one by one
    # would cost the fake minutes (each update copies its list of codes).
    fake = start_fake_seam()
    settings.SEAM_ALLOWED_ENDPOINTS = [fake.url]
    seam = make_seam_client(api_key=fake.api_key, endpoint=fake.url)
    print(
        "Door truth: the read-back pass over every lock (Seam's fake through the project's "
        "launcher, which lists one lock's codes as Seam does); PostgreSQL, broker: "
        f"{'Redis (own server)' if redis_url else 'ORM'}"
    )
    log = open(WORKDIR / "clusters.log", "w")  # noqa: SIM115 (kept open for the runs)
    try:
        for size in [int(n) for n in args.sizes.split(",")]:
            run(fake=fake, seam=seam, size=size, args=args, log=log)
    finally:
        log.close()
        seam.client.close()
        fake.stop()
        from django.db import connections

        connections.close_all()
        clusters.drop(name)
        clusters.drop(template)
        if redis is not None:
            redis.terminate()
            redis.wait(timeout=10)
    print(f"  (cluster logs: {WORKDIR / 'clusters.log'})")


if __name__ == "__main__":
    main()
