"""`make run`'s script (scripts/run.sh): it says where Keystay runs once the port answers,
and a SIGTERM to its process group (a supervisor stopping it, a closed terminal) stops
every process it started: Seam's fake, the web server and the whole django-q2 cluster."""

import os
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.deploy import Process, free_port
from tests.fixtures_parallel import sqlite_env

READY = "Keystay runs at "


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie (dead, waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for_line(process: Process, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in process.output(100_000).splitlines():
            if line.startswith(text):
                return line
        assert process.alive(), f"run.sh exited:\n{process.output()}"
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} within {timeout:.0f} s:\n{process.output()}")


@pytest.mark.slow
def test_a_sigterm_to_the_group_stops_every_process_within_ten_seconds(tmp_path, migrated_sqlite):
    port, fake_port = free_port(), free_port()
    env = {
        k: v
        for k, v in sqlite_env(migrated_sqlite("run.sqlite3")).items()
        if not k.startswith(("SEAM_", "KEYSTAY_", "FAKE_SEAM_")) and k not in ("HOST", "PORT")
    }
    # No Seam key: the script starts Seam's fake server too. No demo: nothing to seed.
    env.update(PORT=str(port), SEAM_FAKE_PORT=str(fake_port), KEYSTAY_DEMO="false")
    # In a session of its own, as in a terminal: its process group is the script's.
    script = Process("run.sh", ["bash", "scripts/run.sh"], env=env, log=tmp_path / "run.log")
    started: list[int] = []
    try:
        line = wait_for_line(script, READY, timeout=120)
        assert line.split()[3] == f"http://127.0.0.1:{port}/admin/"
        # Said once the port answers, not before.
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
        started += [script.pid, *script.descendants()]
        assert len(started) >= 5, script.output()  # fake, qcluster and its workers, web

        os.killpg(script.pid, signal.SIGTERM)
        stopped = time.monotonic()
        while any(alive(pid) for pid in started) and time.monotonic() - stopped < 10:
            time.sleep(0.1)
        left = [pid for pid in started if alive(pid)]
        took = time.monotonic() - stopped
    finally:
        # Whatever is left (this test failing) goes, not to run on beside the suite.
        for pid in [*script.descendants(), *started]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        script.kill()
    assert left == [], f"still running {took:.1f} s after SIGTERM:\n{script.output()}"
    print(f"every process gone {took:.1f} s after SIGTERM")
