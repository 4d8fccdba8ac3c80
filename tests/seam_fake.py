"""Runs Seam's fake API (fakeseam/launcher.mjs) for tests and drives its control endpoint.

The launcher is a Node process: it prints ``FAKE_SEAM_READY {json}`` once both
servers listen on 127.0.0.1, and exits when its stdin closes, so a test run
that dies without cleaning up does not leave it behind.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = PROJECT_ROOT / "fakeseam" / "launcher.mjs"
READY_PREFIX = "FAKE_SEAM_READY "
LAUNCHER_OPTIONS = frozenset(
    {"FAKE_SEAM_AUTO_CONFIRM_MS", "FAKE_SEAM_LATENCY_MS", "FAKE_SEAM_WRITE_LIMITS"}
)


class FakeSeamError(RuntimeError):
    """The fake could not be started or refused a control request."""


@dataclass
class FakeSeam:
    """A running fake: where to reach it, its seeded ids, and its control endpoint."""

    url: str
    control_url: str
    api_key: str
    workspace_id: str
    seed: dict[str, Any]
    process: subprocess.Popen[str]
    _stderr: deque[str] = field(default_factory=lambda: deque(maxlen=200), repr=False)
    _http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10.0), repr=False)

    def control(self, path: str, **payload: Any) -> dict[str, Any]:
        """POST ``payload`` as JSON to a control route, e.g. ``/access_codes/set_state``."""
        response = self._http.post(f"{self.control_url}{path}", json=payload)
        if response.is_error:
            raise FakeSeamError(f"control {path} -> {response.status_code}: {response.text}")
        return response.json()

    def state(self) -> dict[str, Any]:
        """Debug dump of devices, access codes, events and outages."""
        response = self._http.get(f"{self.control_url}/state")
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        """Back to the seeded state: no access codes, seeded devices and events, no outage,
        no rate limit, no page failure, no pending auto-confirmation, no request counted."""
        self.control("/reset")

    # Things that happen at the lock, outside Seam ----------------------------------------

    def delete_external(self, access_code_id: str) -> dict[str, Any]:
        """The code is deleted in the lock's own app (event deleted_external_to_seam)."""
        return self.control("/access_codes/delete_external", access_code_id=access_code_id)

    def modify_external(self, access_code_id: str, code: str) -> dict[str, Any]:
        """The code's digits are changed in the lock's own app (event
        modified_external_to_seam, warning code_modified_external_to_seam)."""
        return self.control(
            "/access_codes/modify_external", access_code_id=access_code_id, code=code
        )

    def set_pending_mutations(self, access_code_id: str, *mutation_codes: str) -> dict[str, Any]:
        """Seam is still pushing a change of this code to the lock (e.g. "updating_code"):
        its get and list answers carry these pending_mutations until set to none."""
        return self.control(
            "/access_codes/set_pending_mutations",
            access_code_id=access_code_id,
            mutation_codes=list(mutation_codes),
        )

    def add_unmanaged(self, device_id: str, code: str, name: str) -> dict[str, Any]:
        """A code made outside the workspace (another integration, the lock's app) on any
        lock; Seam's own simulation route takes August locks only."""
        return self.control(
            "/access_codes/unmanaged/add", device_id=device_id, code=code, name=name
        )["access_code"]

    def unmanaged_stuck(self, access_code_id: str, stuck: bool = True) -> dict[str, Any]:
        """The lock keeps this unmanaged code although Seam accepts its deletion (until
        set back with ``stuck=False`` or the next reset)."""
        return self.control(
            "/access_codes/unmanaged/stuck", access_code_id=access_code_id, stuck=stuck
        )

    def device_warnings(self, device_id: str, *warning_codes: str) -> dict[str, Any]:
        """Seam's warnings on a device, e.g. ``third_party_integration_detected`` (none:
        cleared)."""
        return self.control(
            "/devices/warnings", device_id=device_id, warning_codes=list(warning_codes)
        )

    # Provider-side failures ----------------------------------------------------------------

    def rate_limit(
        self, device_id: str, *, times: int | None = None, retry_after: float | None = None
    ) -> dict[str, Any]:
        """The next ``times`` access-code requests naming this device answer 429 with a
        Retry-After of ``retry_after`` seconds (60 by default). Without ``times``: until
        cleared with ``times=0``."""
        payload: dict[str, Any] = {"device_id": device_id}
        if times is not None:
            payload["times"] = times
        if retry_after is not None:
            payload["retry_after"] = retry_after
        return self.control("/devices/rate_limit", **payload)

    def slow_down(self, device_id: str, ms: int) -> dict[str, Any]:
        """Requests about this device's codes answer ``ms`` later than the others (0: as
        fast again); until the next reset."""
        return self.control("/devices/slow", device_id=device_id, ms=ms)

    def fail_page(self, route: str, page: int, *, times: int = 1) -> dict[str, Any]:
        """Page ``page`` (1 = the first) of ``/devices/list``, ``/locks/list`` or
        ``/connected_accounts/list`` answers 503, ``times`` times."""
        return self.control("/pagination/fail", route=route, page=page, times=times)

    def add_locks(self, count: int) -> list[str]:
        """Add ``count`` plain PIN locks (until the next reset), e.g. so that a listing
        spans several pages; returns their device ids."""
        return self.control("/devices/add_locks", count=count)["device_ids"]

    def requests(self, *, clear: bool = False) -> dict[str, int]:
        """API requests received per route (e.g. ``/access_codes/list``) since the last
        reset or clear, whichever client made them: a benchmark's count of Seam calls.
        With ``clear``, the counts start again from zero once read."""
        if clear:
            return self.control("/requests/clear")["requests"]
        response = self._http.get(f"{self.control_url}/requests")
        response.raise_for_status()
        return response.json()["requests"]

    def overlaps(self, *, clear: bool = False) -> tuple[int, dict[str, int]]:
        """The most API requests the fake answered side by side since the last reset or
        clear, and per device the most requests about its codes side by side (a device
        never called is absent)."""
        if clear:
            counts = self.control("/requests/clear")
        else:
            response = self._http.get(f"{self.control_url}/requests")
            response.raise_for_status()
            counts = response.json()
        return counts["max_in_flight"], counts["max_in_flight_per_device"]

    def set_latency(self, ms: int) -> None:
        """Delay every API answer by ``ms`` from now on (until the next reset)."""
        self.control("/latency", ms=ms)

    def write_limits(self, enabled: bool) -> None:
        """Switch Seam's per-device write limits on or off (until the next reset); the
        writes counted so far are forgotten, as if a minute had passed."""
        self.control("/write_limits", enabled=enabled)

    def stderr(self) -> str:
        """The launcher's most recent stderr lines, for failure messages."""
        return "".join(self._stderr)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the launcher (stdin EOF, then SIGTERM, then SIGKILL) and close the client."""
        self._http.close()
        if self.process.poll() is None:
            try:
                self.process.stdin.close()  # type: ignore[union-attr]
                self.process.wait(timeout=timeout)
            except (OSError, subprocess.TimeoutExpired):
                self.process.terminate()
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()


def _drain(stream: Any, sink: Any) -> None:
    # Pipes must be read to the end, or a chatty child blocks on a full pipe.
    for line in iter(stream.readline, ""):
        sink(line)
    stream.close()


def start_fake_seam(
    *,
    timeout: float = 30.0,
    auto_confirm_ms: int | None = None,
    latency_ms: int | None = None,
    port: int = 0,
    control_port: int = 0,
    write_limits: bool | None = None,
) -> FakeSeam:
    """Start the launcher on loopback ports (free ones by default) and wait for its READY
    line.

    auto_confirm_ms: the lock confirms each created/updated code (status "set") and each
    delete that long after it. latency_ms: every API answer is delayed that long.
    port, control_port: where to listen, e.g. those of a fake that was stopped, so that a
    restarted fake answers at the address Keystay knows (with none of the old state).
    write_limits: Seam's per-device limits on code writes answer 429 beyond 10 creates,
    10 updates or 20 deletes per device per minute.
    """
    node = os.environ.get("NODE") or shutil.which("node")
    if node is None:
        raise FakeSeamError("Node.js is required to run Seam's fake server (set NODE or PATH)")
    if not (PROJECT_ROOT / "node_modules" / "@seamapi" / "fake-seam-connect").is_dir():
        raise FakeSeamError("@seamapi/fake-seam-connect is not installed: run `npm ci`")

    # Only what the caller asks for: an option left in the shell must not change tests.
    inherited = {k: v for k, v in os.environ.items() if k not in LAUNCHER_OPTIONS}
    options = {
        name: str(value)
        for name, value in (
            ("FAKE_SEAM_AUTO_CONFIRM_MS", auto_confirm_ms),
            ("FAKE_SEAM_LATENCY_MS", latency_ms),
            ("FAKE_SEAM_WRITE_LIMITS", None if write_limits is None else int(write_limits)),
        )
        if value is not None
    }
    process = subprocess.Popen(
        [node, str(LAUNCHER)],
        cwd=PROJECT_ROOT,
        env={**inherited, "PORT": str(port), "CONTROL_PORT": str(control_port), **options},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    stderr: deque[str] = deque(maxlen=200)
    ready: queue.Queue[str] = queue.Queue()

    def on_stdout(line: str) -> None:
        if line.startswith(READY_PREFIX):
            ready.put(line[len(READY_PREFIX) :])

    for stream, sink in ((process.stdout, on_stdout), (process.stderr, stderr.append)):
        threading.Thread(target=_drain, args=(stream, sink), daemon=True).start()

    deadline = time.monotonic() + timeout
    line = None
    # Poll so that a launcher that crashes on start fails fast, not at the timeout.
    while line is None and time.monotonic() < deadline:
        try:
            line = ready.get(timeout=0.1)
        except queue.Empty:
            if process.poll() is not None:
                time.sleep(0.1)  # let the drain threads collect its last words
                break
    if line is None:
        exited = process.returncode is not None
        process.kill()
        process.wait()
        reason = f"exited with code {process.returncode}" if exited else f"timed out ({timeout}s)"
        raise FakeSeamError(f"fake Seam did not start: {reason}.\nstderr:\n{''.join(stderr)}")
    info = json.loads(line)

    return FakeSeam(
        url=info["url"],
        control_url=info["control_url"],
        api_key=info["api_key"],
        workspace_id=info["workspace_id"],
        seed=info["seed"],
        process=process,
        _stderr=stderr,
    )
