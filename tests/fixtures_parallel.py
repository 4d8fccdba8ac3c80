"""What lets the suite run on several pytest-xdist workers at once (`make test` runs
`pytest -n auto`), and what the tests that start processes share.

Loaded by tests/conftest.py with ``pytest_plugins``. The rules for a new test:

- a database of its own comes with each worker (pytest-django names it ``test_<name>_gw0``,
  ``_gw1``…); a process the test starts reads ``connection.settings_dict`` for it;
- a port: ask the kernel for a free one (``tests.deploy.free_port()``, or port 0), never a
  fixed number;
- Redis: the ``redis_url`` fixture, a redis-server of the worker's own, emptied after each
  test; never the machine's 127.0.0.1:6379, which other runs share;
- files: ``tmp_path``; a SQLite file that processes share starts as a copy of a migrated
  one (``migrated_sqlite``), as migrating costs seconds of CPU;
- a test that runs for tens of seconds carries ``@pytest.mark.slow``: slow tests are
  handed out first, so that none of them starts last and holds up the end of the run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.deploy import ROOT, RedisServer


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A stable sort: the same order in every worker, as xdist requires.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of this worker's own, started the first time a test asks for it."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The URL of this worker's Redis (database 0), empty again after the test."""
    yield redis_server.url
    import redis

    client = redis.Redis.from_url(redis_server.url)
    try:
        client.flushdb()
    finally:
        client.close()


def sqlite_env(db_path: Path) -> dict[str, str]:
    """The environment of a `make run`-like process on a SQLite file: local settings,
    nothing of the test run's own settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_") and k != "REDIS_URL"}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DATABASE_URL=f"sqlite:///{db_path}",
        KEYSTAY_DEMO="false",
    )
    return env


@pytest.fixture(scope="session")
def _migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "migrated.sqlite3"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=ROOT,
        env=sqlite_env(path),
        check=True,
        timeout=300,
    )
    return path


@pytest.fixture
def migrated_sqlite(_migrated_sqlite_template: Path, tmp_path: Path) -> Callable[[str], Path]:
    """A fresh copy of a SQLite file that `manage.py migrate` made (once per worker):
    ``migrated_sqlite("web.sqlite3")`` returns its path in the test's tmp_path."""

    def copy(name: str = "db.sqlite3") -> Path:
        target = tmp_path / name
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{_migrated_sqlite_template}{suffix}")
            if source.exists():
                shutil.copyfile(source, Path(f"{target}{suffix}"))
        return target

    return copy
