"""Keystay's production processes, started for real by the tests: gunicorn web processes,
`manage.py qcluster` processes and a Redis server of the test's own.

Each process runs under `config.settings.production` with the environment an operator
would give it (README: "Running on PostgreSQL and Redis with several workers"), in its own
session so that a test can kill it and everything it forked, and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def production_env(**overrides: str) -> dict[str, str]:
    """The environment of a production process: no setting of the test run leaks in, and
    the encryption key is the test settings' (rows written by the test are read by it)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL", "KEYSTAY_", "SEAM_"))
        and key not in ("LOG_LEVEL", "Q_WORKERS")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY="tests-only-production-secret-" + "x" * 40,
        DJANGO_ALLOWED_HOSTS="keystay.example.com,127.0.0.1",
        KEYSTAY_ENCRYPTION_KEY=",".join(settings.FIELD_ENCRYPTION_KEYS),
        KEYSTAY_CODE_LOOKUP_KEY=settings.CODE_LOOKUP_KEY,
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


class Process:
    """A child process in its own session, its output in a log file."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], log: Path):
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log
        self.popen: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        log = self.log_path.open("a")
        self.popen = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL to the whole session: the process and every process it forked."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM, then SIGKILL to the session if it does not stop in time."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        self.kill()

    def output(self, last: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-last:]
        except FileNotFoundError:
            return ""

    def descendants(self, *, depth: int | None = None) -> list[int]:
        """Live processes below this one (Linux /proc): all of them, or those exactly
        `depth` generations down (1: its children, 2: their children)."""
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] == "Z":
                continue  # a zombie: dead, waiting for its parent to reap it
            children.setdefault(int(fields[1]), []).append(int(entry.name))
        found, generation = [], [self.pid]
        level = 0
        while generation:
            level += 1
            generation = [child for pid in generation for child in children.get(pid, [])]
            if depth is None or level == depth:
                found += generation
        return found


def qcluster(name: str, *, env: dict[str, str], log_dir: Path) -> Process:
    return Process(
        name, [sys.executable, "manage.py", "qcluster"], env=env, log=log_dir / f"{name}.log"
    )


def gunicorn(name: str, *, env: dict[str, str], log_dir: Path, port: int) -> Process:
    """gunicorn as the Procfile starts it, on 127.0.0.1:port; returns once it answers."""
    web = Process(
        name,
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi"],
        env={**env, "PORT": str(port), "WEB_BIND": HOST},
        log=log_dir / f"{name}.log",
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert web.alive(), f"{name} exited:\n{web.output()}"
        try:
            if httpx.get(f"http://{HOST}:{port}/healthz", timeout=2).status_code == 200:
                return web
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    web.stop()
    raise AssertionError(f"{name} did not answer within 30 s:\n{web.output()}")


class RedisServer:
    """A redis-server of the test's own on a free port, without persistence (a restart
    loses what it held, as a Redis without a disk does). Never the machine's shared one."""

    def __init__(self, workdir: Path):
        binary = shutil.which("redis-server")
        # A test that needs Redis fails without it, it is not skipped: CI must have it.
        assert binary, "redis-server is not installed (apt-get install redis-server)"
        self.binary = binary
        self.port = free_port()
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process: Process | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> None:
        argv = [
            self.binary,
            "--bind",
            HOST,
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
        ]
        self.process = Process("redis", argv, env=dict(os.environ), log=self.workdir / "redis.log")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.process.alive(), f"redis-server exited:\n{self.process.output()}"
            if self.ping():
                return
            time.sleep(0.05)
        raise AssertionError(f"redis-server did not answer:\n{self.process.output()}")

    def ping(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=5)
