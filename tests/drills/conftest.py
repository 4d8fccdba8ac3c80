"""Keystay deployed as in production, for the lifecycle test and the fault drills.

PostgreSQL (the test database, which the processes share with the test), a Redis server of
the test's own, Seam's fake server (also the test's own, so that a drill may stop it), two
`manage.py qcluster` processes and a gunicorn web process, all under production settings.
The test books and cancels stays through the REST API, as a PMS would, so that every task
goes through Redis; it reads the outcome from the database and from the fake.

These tests run on PostgreSQL (CI runs the suite on SQLite, then on PostgreSQL): SQLite
has one writer and no row locks, and its embedded setup runs one qcluster. Redis is not
optional here: without redis-server, they fail.
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from api.services import api_key_create
from core.access import Role
from locks.models import LockAssignment
from locks.services import connection_create, devices_sync
from properties.models import Listing, Property
from properties.services import organization_create
from reservations.models import LockAccess, Reservation
from tests.deploy import (
    Process,
    RedisServer,
    free_port,
    gunicorn,
    production_env,
    qcluster,
)
from tests.seam_fake import FakeSeam, start_fake_seam

POSTGRESQL_ONLY = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="processes sharing one database with row locks run on PostgreSQL (CI runs both)",
)
# Each drill runs a whole deployment (two clusters, a web process, Redis, the fake) and
# judges it by the second: under xdist they run one after another, on one worker.
DRILLS_ONE_AT_A_TIME = pytest.mark.xdist_group("drills")

# A worker that died mid-step holds it this long before another takes it over (5 minutes
# in production; shorter here, or a drill would wait that long).
LEASE_SECONDS = 15
# The drills' idea of "overdue": due this long ago and nobody on it.
OVERDUE_SECONDS = 60


def database_url() -> str:
    """The test database, for the processes: they must see what the test wrote."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return (
        f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )


def wait_for(what: str, check, *, timeout: float, every: float = 0.5):
    """Poll `check` until it returns something true; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


@dataclass
class Stay:
    id: int
    listing: Listing
    code: str = ""


@dataclass
class Stack:
    """One production-like deployment and the organization it serves."""

    tmp: Path
    redis: RedisServer
    fake: FakeSeam
    env: dict[str, str]
    fake_options: dict
    clusters: list[Process] = field(default_factory=list)
    web: Process | None = None
    web_port: int = 0
    api_key: str = ""
    listings: list[Listing] = field(default_factory=list)
    lock_ids: list[str] = field(default_factory=list)

    # -- processes -----------------------------------------------------------------

    def start_cluster(self, name: str) -> Process:
        cluster = qcluster(name, env=self.env, log_dir=self.tmp)
        self.clusters.append(cluster)
        return cluster

    def start_web(self) -> None:
        self.web_port = free_port()
        self.web = gunicorn("web", env=self.env, log_dir=self.tmp, port=self.web_port)

    def restart_fake(self) -> None:
        """Seam's fake killed and started again at the same address: it has lost every
        code, and hands out ids from access_code1 again. The locks are still there."""
        port = int(self.fake.url.rsplit(":", 1)[1])
        control_port = int(self.fake.control_url.rsplit(":", 1)[1])
        self.fake.process.kill()
        self.fake.process.wait()
        self.fake.stop()
        self.fake = start_fake_seam(port=port, control_port=control_port, **self.fake_options)
        assert self.fake.add_locks(len(self.lock_ids)) == self.lock_ids

    def stop(self) -> None:
        # Killed outright: a graceful stop waits for a sweep in progress (up to 45 s), and
        # the database is the test's, emptied next.
        for process in [*self.clusters, self.web]:
            if process is not None:
                process.kill()
        self.fake.stop()
        self.redis.stop()

    def logs(self) -> str:
        parts = []
        for process in [*self.clusters, self.web]:
            if process is not None:
                parts.append(f"--- {process.name}\n{process.output(3000)}")
        return "\n".join(parts)

    # -- the organization, through the API -------------------------------------------

    def api(self, method: str, path: str, **kwargs) -> httpx.Response:
        return httpx.request(
            method,
            f"http://127.0.0.1:{self.web_port}/api/v1/{path}",
            headers={
                "Authorization": f"Bearer {self.api_key}",
                "Host": "keystay.example.com",
                "X-Forwarded-Proto": "https",
            },
            timeout=30,
            **kwargs,
        )

    def book(
        self, listing: Listing, *, starts_in: float, lasts: float, guest: str = "Guest"
    ) -> Stay:
        """A confirmed stay from `starts_in` seconds from now, for `lasts` seconds."""
        now = timezone.now().replace(microsecond=0)
        check_in = now + datetime.timedelta(seconds=starts_in)
        check_out = check_in + datetime.timedelta(seconds=lasts)
        response = self.api(
            "POST",
            "reservations/",
            json={
                "listing": listing.pk,
                "guest_name": guest,
                "check_in": check_in.isoformat(),
                "check_out": check_out.isoformat(),
                "status": "confirmed",
            },
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return Stay(id=body["id"], listing=listing, code=body.get("code") or "")

    def cancel(self, stay: Stay) -> httpx.Response:
        return self.api("POST", f"reservations/{stay.id}/cancel/")

    def health(self, which: str = "ready") -> httpx.Response:
        """A load balancer's probe: /healthz (which=""), /healthz/ready, /healthz/backlog."""
        path = f"/healthz/{which}" if which else "/healthz"
        return httpx.get(f"http://127.0.0.1:{self.web_port}{path}", timeout=10)


def _make_stack(tmp: Path, settings_fixture, *, latency_ms: int, listings: int) -> Stack:
    redis = RedisServer(tmp / "redis")
    fake_options = {"auto_confirm_ms": 1000, "latency_ms": latency_ms}
    fake = start_fake_seam(**fake_options)
    settings_fixture.SEAM_ALLOWED_ENDPOINTS = [*settings.SEAM_ALLOWED_ENDPOINTS, fake.url]
    env = production_env(
        DATABASE_URL=database_url(),
        REDIS_URL=redis.url,
        SEAM_ALLOWED_ENDPOINTS=fake.url,
        Q_WORKERS="2",
        LOG_LEVEL="INFO",
        # Read each lock back every minute near a stay (5 in production): a drill lasts
        # a minute or two, and the read-back is what finds codes the provider lost.
        LOCK_RECONCILE_HOT_MINUTES="1",
        EVENTS_RECONCILE_INTERVAL_MINUTES="1",
        LOCK_STEP_LEASE_SECONDS=str(LEASE_SECONDS),
        HEALTH_OVERDUE_SECONDS=str(OVERDUE_SECONDS),
    )
    stack = Stack(tmp=tmp, redis=redis, fake=fake, env=env, fake_options=fake_options)
    try:
        # Clusters first: their scheduler first looks at the schedules 30 s after start.
        stack.start_cluster("qcluster-1")
        stack.start_cluster("qcluster-2")
        stack.lock_ids = fake.add_locks(2 * listings)
        organization, owner = organization_create(name="Drill Stays", owner_username="drill")
        prop = Property.objects.create(organization=organization, name="House", time_zone="UTC")
        seam = connection_create(
            organization=organization, name="Seam", api_key=fake.api_key, endpoint=fake.url
        )
        devices_sync(connection=seam)
        devices = {d.provider_device_id: d for d in seam.devices.all()}
        for number in range(listings):
            listing = Listing.objects.create(
                property=prop,
                name=f"Flat {number + 1}",
                code_lead_time_minutes=0,
                buffer_before_minutes=0,
                buffer_after_minutes=0,
            )
            for role, lock_id in zip(
                ("primary", "secondary"), stack.lock_ids[2 * number : 2 * number + 2], strict=True
            ):
                LockAssignment.objects.create(
                    listing=listing, device=devices[lock_id], role=role, guest_access=True
                )
            stack.listings.append(listing)
        _, stack.api_key = api_key_create(organization=organization, name="PMS", role=Role.MANAGER)
        stack.start_web()
    except BaseException:
        stack.stop()
        raise
    return stack


@pytest.fixture
def make_stack(tmp_path, transactional_db, settings):
    """Builds the deployment (`latency_ms`: the fake's delay on every answer); stops
    every process it started before the test database is emptied."""
    stacks: list[Stack] = []

    def make(*, latency_ms: int = 0, listings: int = 3) -> Stack:
        stack = _make_stack(tmp_path, settings, latency_ms=latency_ms, listings=listings)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.stop()


# ------------------------------------------------------------------------- the doors


def door_problems(stack: Stack, stays: list[Stay], *, now=None) -> list[str]:
    """Everything wrong with the doors, as a list of plain sentences (empty: all right).

    - a stay that should be on a lock now holds exactly one code there, with its digits
      and its end, and Keystay records that code's id;
    - a stay over, cancelled or not yet due has no code on any lock, and Keystay
      recorded its removal (revoked for a cancellation);
    - no lock holds two codes with the same digits, nor a code Keystay does not know;
    - no step is overdue: due more than OVERDUE_SECONDS ago with no worker on it.
    """
    now = now or timezone.now()
    state = stack.fake.state()
    codes = [c for c in state["access_codes"] if c["device_id"] in stack.lock_ids]
    problems: list[str] = []
    accounted: set[str] = set()
    for stay in stays:
        reservation = Reservation.objects.get(pk=stay.id)
        digits = reservation.code.value if hasattr(reservation, "code") else ""
        for access in LockAccess.objects.filter(reservation=reservation).select_related("device"):
            lock = access.device.provider_device_id
            prefix = f"KS{reservation.pk}-{access.device_id} "
            mine = [c for c in codes if c["device_id"] == lock and c["name"].startswith(prefix)]
            accounted.update(c["access_code_id"] for c in mine)
            where = f"stay {reservation.pk} ({reservation.guest_name}) on {lock}"
            # A step at its boundary may be carried out any second now: judged later.
            on_lock = access.wanted and access.program_at <= now < access.ends_at
            if on_lock:
                if len(mine) != 1:
                    problems.append(f"{where}: {len(mine)} codes at the provider, not 1")
                    continue
                (code,) = mine
                if code["code"] != digits:
                    problems.append(f"{where}: digits {code['code']} instead of {digits}")
                if code["ends_at"] and _instant(code["ends_at"]) != access.ends_at:
                    problems.append(f"{where}: ends {code['ends_at']}, not {access.ends_at}")
                if access.provider_id != code["access_code_id"]:
                    problems.append(
                        f"{where}: Keystay records {access.provider_id!r}, the provider "
                        f"holds {code['access_code_id']!r}"
                    )
                if access.state not in LockAccess.AT_PROVIDER_STATES:
                    problems.append(f"{where}: state {access.state}")
            else:
                if mine:
                    problems.append(f"{where}: {len(mine)} code(s) left at the provider")
                leaving = not access.wanted or now >= access.ends_at
                if leaving and access.state not in LockAccess.FINAL_STATES:
                    problems.append(f"{where}: state {access.state}, not removed")
                cancelled = reservation.status == Reservation.Status.CANCELLED
                if cancelled and access.programmed_at and access.state != LockAccess.State.REVOKED:
                    problems.append(f"{where}: cancelled but {access.state}, not revoked")
    for lock in stack.lock_ids:
        on_lock = [c for c in codes if c["device_id"] == lock]
        digits = [c["code"] for c in on_lock]
        if len(digits) != len(set(digits)):
            problems.append(f"{lock}: the same digits twice: {sorted(digits)}")
        for code in on_lock:
            if code["access_code_id"] not in accounted:
                problems.append(f"{lock}: a code nobody accounts for: {code['name']!r}")
    overdue = (
        LockAccess.objects.filter(due_at__lt=now - datetime.timedelta(seconds=OVERDUE_SECONDS))
        .filter(LockAccess.unclaimed(now))
        .values_list("reservation_id", "device__provider_device_id", "state", "due_at")
    )
    problems += [f"stay {r} on {lock}: {s} step overdue since {d}" for r, lock, s, d in overdue]
    return problems


def _instant(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def settle(stack: Stack, stays: list[Stay], *, timeout: float, margin: float = 5) -> None:
    """Wait until the doors are right (see door_problems); fail with what is still wrong.

    Judged only away from the stays' boundaries (program_at, ends_at), where a step is
    allowed its few seconds."""
    deadline = time.monotonic() + timeout
    problems: list[str] = []
    while time.monotonic() < deadline:
        now = timezone.now()
        if not _near_a_boundary(stays, now, margin):
            problems = door_problems(stack, stays, now=now)
            if not problems:
                return
        time.sleep(2)
    detail = "\n".join(problems)
    raise AssertionError(f"doors still wrong after {timeout:.0f} s:\n{detail}\n{stack.logs()}")


def _near_a_boundary(stays: list[Stay], now, margin: float) -> bool:
    window = datetime.timedelta(seconds=margin)
    for access in LockAccess.objects.filter(reservation_id__in=[s.id for s in stays]):
        for instant in (access.program_at, access.ends_at):
            if instant - window <= now <= instant + window:
                return True
    return False
