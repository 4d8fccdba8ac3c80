"""One worker at a time on each lock, and within Seam's per-lock write limits.

Keystay runs any number of workers in any number of processes and machines, so neither
rule can live in one process's memory: both live on the lock's own row (`Device`).

- **The lease** (`lease_until`, `lease_token`) is taken with a compare-and-set, like a lock
  access's claim. Its holder is the only worker calling Seam about this lock's codes, and
  works the lock's due steps one after another, nearest first: steps of one lock never
  run side by side, nor out of order, while different locks go on in parallel. The holder
  renews it before each step; it runs out by itself, so a worker that died holds the lock
  up for `LEASE` at most.
- **The write budget** (`recent_writes`): Seam answers 429 beyond 10 creates, 10 updates
  or 20 deletes of codes per lock per minute. Each write is counted on the lock's row,
  under a row lock, before it is sent; with no slot left, `Paced` says when one frees, and
  the step waits until then while the lock's other steps go on. A 429 from Seam itself
  still pauses the whole lock (`Device.backoff_until`).
"""

from __future__ import annotations

import datetime
import uuid

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.row_update import update_row

from .gateway import ProviderError, SeamGateway
from .models import Device

# The same bound as a lock access's claim (LOCK_STEP_LEASE_SECONDS, 5 minutes): how long
# a worker that died can hold anything up.
LEASE = datetime.timedelta(seconds=settings.LOCK_STEP_LEASE_SECONDS)

# Seam's limits on code writes, per lock, per minute.
WRITE_LIMITS = {"create": 10, "update": 10, "delete": 20}
WINDOW = 60.0  # seconds
# Keystay's clock and Seam's are not the same clock: wait a little past the minute.
MARGIN = 1.0


# --------------------------------------------------------------------------- the lease


def lease_free(now: datetime.datetime, prefix: str = "") -> Q:
    """Devices (through `prefix`, e.g. "device__") no worker holds at `now`."""
    return Q(**{f"{prefix}lease_until__isnull": True}) | Q(**{f"{prefix}lease_until__lt": now})


def lease_take(device_id: int, *, unless_paused: bool = False) -> str | None:
    """Take the lock for this worker; its token, or None when another worker holds it
    (or, with `unless_paused`, while the provider's pause of it, `backoff_until`, lasts)."""
    now = timezone.now()
    token = uuid.uuid4().hex
    # lease_free(now), as one compare-and-set of a shape built once (a worker takes a
    # lease for every code it sends).
    taken = update_row(
        Device,
        device_id,
        values={"lease_until": now + LEASE, "lease_token": token},
        before={"lease_until": now},
        by={"backoff_until": now} if unless_paused else None,
    )
    return token if taken else None


def lease_renew(device_id: int, token: str) -> bool:
    """Keep the lock for another LEASE; False when it ran out and another worker took it."""
    return bool(
        Device.objects.filter(pk=device_id, lease_token=token).update(
            lease_until=timezone.now() + LEASE
        )
    )


def lease_release(device_id: int, token: str) -> None:
    update_row(
        Device,
        device_id,
        values={"lease_until": None, "lease_token": ""},
        equal={"lease_token": token},
    )


# ------------------------------------------------------------------------ the budget


class Paced(ProviderError):
    """Keystay's own pause: one more write now would exceed Seam's limit on this lock."""

    def __init__(self, kind: str, until: datetime.datetime):
        limit = WRITE_LIMITS[kind]
        super().__init__(
            "paced",
            f"Seam allows {limit} code {kind}s a minute on a lock: this one waits until "
            f"{until:%H:%M:%S} UTC.",
            retry_after=max((until - timezone.now()).total_seconds(), 0.0),
        )
        self.until = until


def _counted(writes: dict | None, kind: str, stamp: float) -> tuple[dict, list[float]]:
    """The lock's writes with one more of `kind` at `stamp`, and the recent ones before it."""
    writes = dict(writes or {})
    # Stamps ahead of now by more than a window are from a clock that went back
    # (or a test that travelled): they say nothing about this minute.
    recent = sorted(t for t in writes.get(kind, []) if stamp - WINDOW < t <= stamp + WINDOW)
    writes[kind] = [*recent, stamp]
    return writes, recent


def write_take(device_id: int, kind: str, *, seen: dict | None = None) -> dict:
    """Count one write of `kind` on the lock, or raise Paced when its minute is full;
    returns the lock's writes as now counted.

    `seen`: the lock's `recent_writes` as the caller read them. When the row still holds
    exactly that, one compare-and-set counts the write (the common case: the lease
    holder is the lock's only writer); otherwise the row is locked and read again."""
    now = timezone.now()
    stamp = now.timestamp()
    if seen is not None:
        writes, recent = _counted(seen, kind, stamp)
        if len(recent) < WRITE_LIMITS[kind] and (
            Device.objects.filter(pk=device_id, recent_writes=seen).update(recent_writes=writes)
        ):
            return writes
    with transaction.atomic():
        # The row lock makes two processes taking the last slot count one after the other.
        current = (
            Device.objects.select_for_update()
            .values_list("recent_writes", flat=True)
            .get(pk=device_id)
        )
        writes, recent = _counted(current, kind, stamp)
        if len(recent) >= WRITE_LIMITS[kind]:
            oldest = recent[-WRITE_LIMITS[kind]]
            until = datetime.datetime.fromtimestamp(oldest + WINDOW + MARGIN, tz=datetime.UTC)
            raise Paced(kind, until)
        Device.objects.filter(pk=device_id).update(recent_writes=writes)
        return writes


class PacedGateway:
    """A gateway for one lock whose code writes keep under Seam's per-lock limits.

    Every other call goes straight to the gateway: reads are not limited per lock.
    """

    def __init__(self, gateway: SeamGateway, device_id: int, *, seen: dict | None = None):
        """`seen`: the lock's `recent_writes` as just read with it, if the caller has them
        (its first write then counts itself in one statement, see write_take)."""
        self._gateway = gateway
        self._device_id = device_id
        self._seen = seen

    def __getattr__(self, name):
        return getattr(self._gateway, name)

    def _take(self, kind: str) -> None:
        self._seen = write_take(self._device_id, kind, seen=self._seen)

    def create_access_code(self, **kwargs):
        self._take("create")
        return self._gateway.create_access_code(**kwargs)

    def update_access_code(self, **kwargs):
        self._take("update")
        return self._gateway.update_access_code(**kwargs)

    def delete_access_code(self, **kwargs):
        self._take("delete")
        return self._gateway.delete_access_code(**kwargs)
