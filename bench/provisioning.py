"""Provisioning at scale: codes per second with 1 and 4 workers. Prints; asserts nothing.

Seam's fake answers every request 200 ms late (FAKE_SEAM_LATENCY_MS) and enforces Seam's
per-device write limits (10 creates a minute per lock). N reservations (1,000 by default)
on two locks each, 2N distinct locks, all fall due at once; real `manage.py qcluster`
processes (one worker each, on PostgreSQL and, when `redis-server` is installed, on a
Redis of the bench's own) program them. The sweep is enqueued at that instant, as its
schedule would, and calls in the other workers. Against it, a bare sequential loop of SDK
calls does the same provider work per code (look for the code by name, create it); its
rate is measured on a sample (--bare-sample codes), in the same run. A run that has not
programmed every code after --max-seconds (120 s) stops there: its rate is measured on
what it did (one worker at 4 threads takes about 5 minutes for 2,000 codes).

While the workers work through that backlog, the bench also measures timeliness: stays
whose codes are already on other locks end their window (removal due), and others are
cancelled one by one (revocation); lateness is when Seam no longer lists the code
(Keystay's `removed_at`) minus when it was due, or minus the cancellation.

Other periodic work (read-backs, device imports) is held off during the runs: this
measures provisioning. The fake's launcher answers `access_codes/list` with the lock's
codes only, as Seam does.

Keystay's CPU per code is the CPU time of every process of the workers' clusters from
the instant the backlog falls due to the instant its last code went out, divided by the
codes programmed (Seam's fake and PostgreSQL excluded; the removals and revocations in
that time are counted in); its goal is a third of BASELINE_CPU_MS, measured before it
was cut, when the backlog took the whole run. The CPU over the whole run (the removals
and revocations go on until 45 s) is printed beside it, and the bare loop's own CPU per
code too, from the same run.

Needs PostgreSQL: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/
keystay_bench); the bench creates and drops the databases <name> and <name>_template.

Run with `make bench` or `.venv/bin/python bench/provisioning.py [--n 200] [--workers 1,4]`.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORKDIR = Path(tempfile.mkdtemp(prefix="keystay-bench-provisioning-"))
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/keystay_bench"
)
REMOVALS, CANCELS = 40, 10  # timeliness: stays ending, stays cancelled, during a run
# Keystay's CPU per code before it was cut (one worker, --n 150, 200 ms, a 2-core machine
# shared with other work; 31.0 ms with four workers): the goal is a third of it.
BASELINE_CPU_MS = 29.3


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="reservations (2 locks each)")
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--workers", default="1,4", help="qcluster processes per run")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="KEYSTAY_PROVISIONING_CONCURRENCY of each worker (default: the setting's)",
    )
    parser.add_argument("--bare-sample", type=int, default=50, help="codes of the bare loop")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=120,
        help="a run stops after this long (its rate is then measured on what it did)",
    )
    return parser.parse_args()


# ---------------------------------------------------------------------- databases


def with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def maintenance():
    import psycopg

    return psycopg.connect(with_db(DATABASE_URL, "postgres"), autocommit=True)


def recreate(name: str, *, template: str | None = None) -> None:
    with maintenance() as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        db.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


def drop(name: str) -> None:
    with maintenance() as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_reachable() -> str | None:
    try:
        with maintenance():
            return None
    except Exception as error:  # any reason: say it and skip
        return str(error).strip().splitlines()[0]


# ------------------------------------------------------------------------- redis


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis():
    """A Redis of the bench's own on a free port (never a shared one), or None."""
    binary = shutil.which("redis-server")
    if binary is None:
        return None, ""
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as probe:
                probe.sendall(b"PING\r\n")
                if probe.recv(16).startswith(b"+PONG"):
                    return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.1)
    process.kill()
    return None, ""


# -------------------------------------------------------------------------- seed


def seed(*, fake, n: int) -> dict:
    """An organization with n listings of two locks each, each with a stay whose codes
    are planned (not due yet); plus stays on other locks whose codes are already on them,
    to end or cancel during the run."""
    from django.utils import timezone

    from locks.models import Device, LockAssignment
    from locks.services import connection_create
    from properties.models import Listing, Property
    from properties.services import organization_create
    from reservations.models import LockAccess, Reservation, ReservationCode
    from reservations.provisioning import _access_name

    extra = REMOVALS + CANCELS
    device_ids: list[str] = []
    while len(device_ids) < 2 * (n + extra):
        device_ids += fake.add_locks(min(1000, 2 * (n + extra) - len(device_ids)))
    organization, _ = organization_create(name="Bench", owner_username="bench")
    prop = Property.objects.create(organization=organization, name="Block", time_zone="UTC")
    connection = connection_create(
        organization=organization, name="Fake", api_key=fake.api_key, endpoint=fake.url
    )
    now = timezone.now().replace(microsecond=0)
    devices = Device.objects.bulk_create(
        Device(
            organization=organization,
            connection=connection,
            kind=Device.Kind.LOCK,
            provider_device_id=device_id,
            name=f"Lock {number}",
            supported_code_lengths=[4, 5, 6],
            reconciled_at=now,
        )
        for number, device_id in enumerate(device_ids)
    )
    listings = Listing.objects.bulk_create(
        Listing(
            organization=organization, property=prop, name=f"Flat {i}", code_lead_time_minutes=0
        )
        for i in range(n + extra)
    )
    assignments = LockAssignment.objects.bulk_create(
        LockAssignment(
            listing=listing,
            device=devices[2 * i + k],
            role="primary" if k == 0 else "secondary",
            guest_access=True,
        )
        for i, listing in enumerate(listings)
        for k in (0, 1)
    )
    check_in = now + datetime.timedelta(days=2)
    stays = Reservation.objects.bulk_create(
        Reservation(
            organization=organization,
            listing=listing,
            guest_name=f"Guest {i}",
            check_in=check_in if i < n else now - datetime.timedelta(days=1),
            check_out=check_in + datetime.timedelta(days=2)
            if i < n
            else now + datetime.timedelta(days=1),
            status=Reservation.Status.CONFIRMED,
            confirmed_at=now,
        )
        for i, listing in enumerate(listings)
    )
    codes = []
    for i, stay in enumerate(stays):
        code = ReservationCode(reservation=stay, generated_at=now)
        code.value = f"{100000 + i}"
        codes.append(code)
    ReservationCode.objects.bulk_create(codes)
    accesses = []
    for i, stay in enumerate(stays):
        for k in (0, 1):
            access = LockAccess(
                organization=organization,
                reservation=stay,
                assignment=assignments[2 * i + k],
                device=devices[2 * i + k],
                starts_at=stay.check_in,
                ends_at=stay.check_out,
                program_at=stay.check_in - datetime.timedelta(days=1),
                due_at=stay.check_in - datetime.timedelta(days=1),
            )
            access.code = codes[i].value
            access.reservation = stay
            accesses.append(access)
    # The stays to end or cancel hold their codes already (created at the fake, fast).
    seam = fake_client(fake)
    for access in accesses[2 * n :]:
        created = seam.access_codes.create(
            device_id=access.device.provider_device_id,
            code=access.code,
            name=_access_name(access),
            starts_at=access.starts_at.isoformat(),
            ends_at=access.ends_at.isoformat(),
        )
        access.provider_id = created.access_code_id
        access.provider_code = access.code
        access.provider_starts_at, access.provider_ends_at = access.starts_at, access.ends_at
        access.state = LockAccess.State.REQUESTED
        access.programmed_at = now
        access.due_at = access.ends_at
    seam.client.close()
    LockAccess.objects.bulk_create(accesses, batch_size=1000)
    return {
        "backlog": [s.pk for s in stays[:n]],
        "ending": [s.pk for s in stays[n : n + REMOVALS]],
        "cancelling": [s.pk for s in stays[n + REMOVALS :]],
    }


def fake_client(fake):
    from locks.seam_transport import make_seam_client

    return make_seam_client(api_key=fake.api_key, endpoint=fake.url)


def hold_off_periodic_work() -> None:
    """Schedules as a cluster makes them, none due: the bench enqueues the sweep itself."""
    from django.utils import timezone
    from django_q.models import Schedule

    from core.schedules import schedules_ensure

    schedules_ensure()
    Schedule.objects.update(next_run=timezone.now() + datetime.timedelta(days=1))


# ---------------------------------------------------------------------- clusters


def start_clusters(count: int, *, env: dict, log) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        for _ in range(count)
    ]


def wait_for_clusters(count: int, redis: bool) -> float:
    """Until every cluster reports its worker ready (Redis keeps their stats; on the ORM
    broker the stats stay in each process, so give them a few seconds), then until the
    tasks the seeding queued (the new organization's guest-message plan of every seeded
    stay, 500 stays a task) are done: that work is the seeding's, not the benchmark's.
    Returns the seconds waited."""
    from django_q.brokers import get_broker
    from django_q.status import Stat

    started = time.monotonic()
    time.sleep(0 if redis else 8)
    broker = get_broker()
    deadline = time.monotonic() + 300
    quiet = 0
    while time.monotonic() < deadline and quiet < 3:
        stats = Stat.get_all() if redis else []
        idle = not redis or (len(stats) >= count and all(s.status == "Idle" for s in stats))
        quiet = quiet + 1 if idle and not broker.queue_size() else 0
        time.sleep(0.5)
    return time.monotonic() - started


def cluster_processes(clusters: list[subprocess.Popen]):
    """(pid, fields of /proc/<pid>/stat after the command) of every process of these
    clusters (each runs in a session of its own: its sentinel, pusher, monitor and
    workers)."""
    sessions = {cluster.pid for cluster in clusters}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        # After the command: state, ppid, pgrp, session, ..., utime, stime, cutime, cstime.
        if int(fields[3]) in sessions:
            yield int(entry.name), fields


def cluster_cpu(clusters: list[subprocess.Popen]) -> float:
    """CPU seconds used so far by the clusters' processes (Seam's fake and PostgreSQL are
    not counted)."""
    ticks = sum(
        sum(int(value) for value in fields[11:15]) for _, fields in cluster_processes(clusters)
    )
    return ticks / os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """CPU seconds used so far by one process and its waited-for children (Seam's fake)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, every core (/proc/stat)."""
    with open("/proc/stat") as stat:
        ticks = [int(value) for value in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / hz, sum(ticks) / hz


def largest_rss_mb(clusters: list[subprocess.Popen]) -> float:
    """The resident memory of the clusters' largest process now, in MB."""
    page = os.sysconf("SC_PAGE_SIZE")
    largest = 0
    for pid, _ in cluster_processes(clusters):
        try:
            with open(f"/proc/{pid}/statm") as statm:
                largest = max(largest, int(statm.read().split()[1]) * page)
        except OSError:
            continue
    return largest / 2**20


def stop_clusters(clusters: list[subprocess.Popen]) -> None:
    for cluster in clusters:
        if cluster.poll() is None:
            os.killpg(cluster.pid, signal.SIGTERM)
    for cluster in clusters:
        try:
            cluster.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait()


# --------------------------------------------------------------------------- runs


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def spread(values: list[float]) -> str:
    if not values:
        return "none measured"
    return (
        f"p50 {statistics.median(values):5.1f} s, p99 {percentile(values, 0.99):5.1f} s "
        f"(max {max(values):.1f} s, {len(values)} codes)"
    )


def run_workers(*, fake, args, workers: int, redis_url: str, log) -> dict:
    from django.db import connections
    from django.utils import timezone
    from django_q.models import Schedule
    from django_q.tasks import async_task

    from reservations import services
    from reservations.models import LockAccess, Reservation

    connections.close_all()
    recreate(db_name(), template=f"{db_name()}_template")
    fake.reset()
    fake.write_limits(True)
    started = time.perf_counter()
    stays = seed(fake=fake, n=args.n)
    hold_off_periodic_work()
    seeded = time.perf_counter() - started
    env = cluster_env(fake=fake, args=args, redis_url=redis_url)
    clusters = start_clusters(workers, env=env, log=log)
    try:
        wait_for_clusters(workers, bool(redis_url))
        load_before = os.getloadavg()
        cpu_before = cluster_cpu(clusters)
        fake_cpu_before = process_cpu(fake.process.pid)
        machine_before = machine_cpu()
        backlog = LockAccess.objects.filter(reservation_id__in=stays["backlog"])
        fake.set_latency(args.latency_ms)
        fake.requests(clear=True)
        # Everything falls due now; the stays to end finish their windows over the next
        # 40 s, and one stay is cancelled every 4 s.
        t0 = timezone.now()
        backlog.update(program_at=t0, due_at=t0)
        ends = {}
        for number, pk in enumerate(stays["ending"]):
            end = t0 + datetime.timedelta(seconds=5 + number)
            ends[pk] = end
            Reservation.objects.filter(pk=pk).update(check_out=end)
            LockAccess.objects.filter(reservation_id=pk).update(ends_at=end, due_at=end)
        async_task("reservations.tasks.sweep", group="lifecycle")
        Schedule.objects.filter(func="reservations.tasks.sweep").update(
            next_run=t0 + datetime.timedelta(minutes=1)
        )
        cancels = {}
        to_cancel = list(stays["cancelling"])
        total = backlog.count()
        deadline = time.monotonic() + args.max_seconds
        done = 0
        rss = 0.0
        backlog_cpu = None  # the clusters' CPU when the last code of the backlog went out
        while time.monotonic() < deadline:
            rss = max(rss, largest_rss_mb(clusters))
            elapsed = (timezone.now() - t0).total_seconds()
            if to_cancel and elapsed >= 4 * (len(cancels) + 1):
                pk = to_cancel.pop(0)
                cancels[pk] = timezone.now()
                services.reservation_cancel(reservation=Reservation.objects.get(pk=pk))
            done = backlog.exclude(provider_id="").count()
            if done >= total and backlog_cpu is None:
                backlog_cpu = cluster_cpu(clusters) - cpu_before
            left = LockAccess.objects.filter(
                reservation_id__in=[*stays["ending"], *stays["cancelling"]], removed_at=None
            ).count()
            if done >= total and not to_cancel and not left:
                break
            time.sleep(0.5)
        cpu = cluster_cpu(clusters) - cpu_before
        fake_cpu = process_cpu(fake.process.pid) - fake_cpu_before
        machine_after = machine_cpu()
        busy = (machine_after[0] - machine_before[0]) / (machine_after[1] - machine_before[1])
        load_after = os.getloadavg()
        requests = fake.requests()
        side_by_side, per_lock = fake.overlaps()
        state = fake.state()
    finally:
        stop_clusters(clusters)
        fake.set_latency(0)

    programmed = list(backlog.exclude(programmed_at=None).values_list("programmed_at", flat=True))
    last = max(programmed) if programmed else timezone.now()
    wall = (last - t0).total_seconds()
    held = {}
    for code in state["access_codes"]:
        held[code["device_id"]] = held.get(code["device_id"], 0) + 1
    backlog_devices = set(backlog.values_list("device__provider_device_id", flat=True))
    removed = dict(
        LockAccess.objects.filter(
            reservation_id__in=[*stays["ending"], *stays["cancelling"]]
        ).values_list("pk", "removed_at")
    )
    removal_lateness = [
        (removed_at - ends[reservation_id]).total_seconds()
        for pk, reservation_id, removed_at in LockAccess.objects.filter(
            reservation_id__in=stays["ending"]
        ).values_list("pk", "reservation_id", "removed_at")
        if removed_at is not None
    ]
    revocation = [
        (removed_at - cancels[reservation_id]).total_seconds()
        for pk, reservation_id, removed_at in LockAccess.objects.filter(
            reservation_id__in=list(cancels)
        ).values_list("pk", "reservation_id", "removed_at")
        if removed_at is not None
    ]
    return {
        "workers": workers,
        "seeded": seeded,
        "load": (load_before[0], load_after[0]),
        "cpu": cpu,
        "backlog_cpu": cpu if backlog_cpu is None else backlog_cpu,
        "fake_cpu": fake_cpu,
        "busy": busy,
        "rss": rss,
        "codes": len(programmed),
        "total": total,
        "wall": wall,
        "rate": len(programmed) / wall if wall > 0 else 0.0,
        "programming": [(p - t0).total_seconds() for p in programmed],
        "removal": removal_lateness,
        "revocation": revocation,
        "not_removed": sum(1 for at in removed.values() if at is None),
        "creates": requests.get("/access_codes/create", 0),
        "refused": sum(v for k, v in requests.items() if k.startswith("429 ")),
        "twice": sum(1 for d in backlog_devices if held.get(d, 0) > 1),
        "missing": sum(1 for d in backlog_devices if held.get(d, 0) == 0),
        "side_by_side": side_by_side,
        "per_lock": max(per_lock.values(), default=0),
    }


def bare_loop(*, fake, args) -> tuple[float, float]:
    """The same provider work per code, one call after another: codes per second, and the
    loop's own CPU seconds per code."""
    fake.reset()
    device_ids = fake.add_locks(args.bare_sample)
    seam = fake_client(fake)
    fake.set_latency(args.latency_ms)
    starts = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=2)
    window = {
        "starts_at": starts.isoformat(),
        "ends_at": (starts + datetime.timedelta(days=2)).isoformat(),
    }
    try:
        started, cpu = time.perf_counter(), time.process_time()
        for number, device_id in enumerate(device_ids):
            name = f"KS{number}-{number} Guest {number}"
            found = [c for c in seam.access_codes.list(device_id=device_id) if c.name == name]
            if not found:
                seam.access_codes.create(
                    device_id=device_id, code=f"{100000 + number}", name=name, **window
                )
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        fake.set_latency(0)
        seam.client.close()
    return len(device_ids) / elapsed, cpu / len(device_ids)


def db_name() -> str:
    return urlsplit(DATABASE_URL).path.lstrip("/")


def cluster_env(*, fake, args, redis_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "Q_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DJANGO_DEBUG="false",
        DATABASE_URL=with_db(DATABASE_URL, db_name()),
        KEYSTAY_DEMO="false",
        LOG_LEVEL="WARNING",
        SEAM_ALLOWED_ENDPOINTS=fake.url,
        Q_WORKERS="1",
        REDIS_URL=redis_url,
    )
    if args.concurrency:
        env["KEYSTAY_PROVISIONING_CONCURRENCY"] = str(args.concurrency)
    return env


def main() -> None:
    args = parse_args()
    problem = postgres_reachable()
    if problem:
        print(f"Provisioning benchmark skipped: needs PostgreSQL at {DATABASE_URL} ({problem})")
        return
    redis, redis_url = start_redis()
    name = db_name()
    template = f"{name}_template"
    recreate(template)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DATABASE_URL": with_db(DATABASE_URL, template),
            "KEYSTAY_DEMO": "false",
        },
        check=True,
    )
    recreate(name, template=template)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DJANGO_DEBUG="false",
        DATABASE_URL=with_db(DATABASE_URL, name),
        KEYSTAY_DEMO="false",
        LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"),
        REDIS_URL=redis_url,
    )
    if args.concurrency:
        os.environ["KEYSTAY_PROVISIONING_CONCURRENCY"] = str(args.concurrency)
    import django

    django.setup()
    from django.conf import settings

    from tests.seam_fake import start_fake_seam

    fake = start_fake_seam(write_limits=True)
    settings.SEAM_ALLOWED_ENDPOINTS = [fake.url]
    concurrency = settings.KEYSTAY_PROVISIONING_CONCURRENCY
    print(
        f"Provisioning: {args.n:,} reservations x 2 locks ({2 * args.n:,} codes on "
        f"{2 * args.n:,} locks), Seam's fake at {args.latency_ms} ms per answer with its "
        f"per-lock write limits;\n  PostgreSQL, broker: "
        f"{'Redis (own server)' if redis_url else 'ORM'}; each worker: one qcluster process, "
        f"Q_WORKERS=1, KEYSTAY_PROVISIONING_CONCURRENCY={concurrency}"
    )
    log = open(WORKDIR / "clusters.log", "w")  # noqa: SIM115 (kept open for the runs)
    try:
        bare, bare_cpu = bare_loop(fake=fake, args=args)
        print(
            f"  bare sequential loop of SDK calls (list + create per code, "
            f"{args.bare_sample} codes): {bare:5.1f} codes/s, its own CPU "
            f"{bare_cpu * 1000:.1f} ms per code (the baseline of this run's ratios; load "
            f"average {os.getloadavg()[0]:.1f})"
        )
        for workers in [int(w) for w in args.workers.split(",")]:
            result = run_workers(
                fake=fake, args=args, workers=workers, redis_url=redis_url, log=log
            )
            stopped = (
                f" (stopped after {args.max_seconds:.0f} s)"
                if result["codes"] < result["total"]
                else ""
            )
            print(
                f"  {workers} worker{'s' if workers > 1 else ' '}: {result['codes']:,} of "
                f"{result['total']:,} codes in {result['wall']:5.1f} s{stopped} = "
                f"{result['rate']:5.1f} codes/s = {result['rate'] / bare:4.1f}x the bare loop "
                f"(load average {result['load'][0]:.1f} at the start, "
                f"{result['load'][1]:.1f} at the end: wall times stretch with it)"
            )
            print(
                f"      creates {result['creates']:,}, refused by Seam's limits "
                f"{result['refused']}, locks with a code twice {result['twice']}, without "
                f"{result['missing']}; requests side by side: {result['side_by_side']} at "
                f"most, {result['per_lock']} per lock"
            )
            per_code = result["backlog_cpu"] / max(result["codes"], 1) * 1000
            print(
                f"      Keystay's CPU per code: {per_code:5.1f} ms (the workers' processes "
                f"until the last code went out, {result['backlog_cpu']:.1f} s for "
                f"{result['codes']:,} codes; goal <= {BASELINE_CPU_MS / 3:.1f} ms, a third "
                f"of {BASELINE_CPU_MS:.1f} ms before); {result['cpu']:.1f} s over the whole "
                f"run, the removals and revocations after it included"
            )
            print(
                f"      Seam's fake's CPU (same cores, not Keystay's): "
                f"{result['fake_cpu'] / max(result['codes'], 1) * 1000:5.1f} ms per code "
                f"({result['fake_cpu']:.1f} s over the run); the machine's cores were busy "
                f"{result['busy']:.0%} of the run (everything on it, other work included)"
            )
            print(
                f"      largest worker process's resident memory: {result['rss']:.0f} MB "
                "(goal: < 300 MB)"
            )
            burst_goal = "  (goal with 4 workers: p99 <= 30 s)" if workers == 4 else ""
            for label, values, goal in (
                (
                    "programming after falling due (all at once)",
                    result["programming"],
                    burst_goal,
                ),
                ("removal after the window's end", result["removal"], ""),
                ("revocation after cancel", result["revocation"], "  (goal: p99 <= 2 s)"),
            ):
                print(f"      {label + ':':46} {spread(values)}{goal}")
            if result["not_removed"]:
                print(f"      codes not removed by the end: {result['not_removed']}")
    finally:
        log.close()
        fake.stop()
        from django.db import connections

        connections.close_all()
        drop(name)
        drop(template)
        if redis is not None:
            redis.terminate()
            redis.wait(timeout=10)
    print(f"  (cluster logs: {WORKDIR / 'clusters.log'})")


if __name__ == "__main__":
    main()
