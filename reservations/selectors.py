"""Reads the lifecycle, pages and the API share."""

from __future__ import annotations

import dataclasses
import datetime

from django.db.models import Count, Exists, F, Min, OuterRef, Prefetch, Q, QuerySet

from core.access import scope_queryset
from locks.models import Device, LockAssignment, battery_low

from .models import DeviceAlert, LockAccess, Reservation

# A lock in trouble is raised on the dashboard when a guest arrives within this time.
LOCK_HEALTH_WINDOW = datetime.timedelta(hours=48)


def taken_codes(
    *,
    device_ids: list[int],
    start: datetime.datetime,
    end: datetime.datetime,
    exclude_reservation_id: int | None = None,
) -> set[str]:
    """Codes other stays hold on these locks at some instant of [start, end), and the
    unmanaged codes (made in the lock's app or a PMS) on them in that period.

    A code occupies a lock from its programming instant to the end of its window; an
    unmanaged code for its window, an ongoing one (no window) for all time.
    """
    if not device_ids:
        return set()
    rows = LockAccess.objects.filter(
        device_id__in=device_ids,
        state__in=LockAccess.LIVE_STATES,
        program_at__lt=end,
        ends_at__gt=start,
    ).filter(Q(wanted=True) | ~Q(provider_id=""))
    if exclude_reservation_id is not None:
        rows = rows.exclude(reservation_id=exclude_reservation_id)
    taken = set()
    for access in rows.only("code_ciphertext", "provider_code_ciphertext"):
        taken.update(code for code in (access.code, access.provider_code) if code)
    from locks.models import UnmanagedCode

    unmanaged = (
        UnmanagedCode.objects.filter(device_id__in=device_ids)
        .exclude(code_ciphertext="")
        .filter(Q(starts_at__isnull=True) | Q(starts_at__lt=end))
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=start))
    )
    taken.update(code.code for code in unmanaged.only("code_ciphertext"))
    return taken


def accesses_unconfirmed(*, user, now, within=datetime.timedelta(hours=24)):
    """Codes the provider accepted that the lock has not confirmed yet, for stays under
    way or starting soon: sent is not the same as on the door."""
    return scope_queryset(
        LockAccess.objects.filter(
            state=LockAccess.State.REQUESTED,
            wanted=True,
            starts_at__lt=now + within,
            ends_at__gt=now,
        ).select_related("device", "reservation__listing__property"),
        user,
    )


def accesses_failing(*, user) -> QuerySet[LockAccess]:
    """Lock accesses with a provider failure that is not resolved yet (the dashboard)."""
    return scope_queryset(
        LockAccess.objects.filter(state=LockAccess.State.FAILED).select_related(
            "device", "reservation__listing__property"
        ),
        user,
    )


# ----------------------------------------------------------------- before the guest arrives


def device_problems(device: Device) -> list[str]:
    """What is wrong with a lock, as the dashboard says it (its organization selected)."""
    problems = []
    if not device.online:
        problems.append("offline")
    if device.battery_is_low:
        problems.append(f"battery {device.battery_percent}%")
    return problems


@dataclasses.dataclass
class LockAtRisk:
    """A lock offline or low on battery, and the guests arriving soon who need it."""

    device: Device
    problems: list[str]
    arrivals: list[Reservation]


def locks_at_risk(*, user, now, within=LOCK_HEALTH_WINDOW) -> list[LockAtRisk]:
    """Locks offline or under their organization's battery threshold, each with the
    confirmed, not ended stays checking in within `within` at a listing where the lock has
    guest access; the lock of the soonest arrival first. Two queries, however many rows."""
    risky = LockAssignment.objects.filter(
        Q(device__online=False) | battery_low("device__"),
        guest_access=True,
        device__removed_at__isnull=True,
    )
    reservations = scope_queryset(
        Reservation.objects.filter(
            Exists(risky.filter(listing_id=OuterRef("listing_id"))),
            status=Reservation.Status.CONFIRMED,
            ended_at__isnull=True,
            check_in__gte=now,
            check_in__lte=now + within,
        )
        .select_related("listing__property")
        .prefetch_related(
            Prefetch(
                "listing__assignments",
                queryset=risky.select_related("device__organization").order_by(
                    "device__name", "pk"
                ),
                to_attr="risky_assignments",
            )
        )
        .order_by("check_in", "pk"),
        user,
    )
    locks: dict[int, LockAtRisk] = {}
    for reservation in reservations[:500]:
        for assignment in reservation.listing.risky_assignments:
            device = assignment.device
            if device.pk not in locks:
                locks[device.pk] = LockAtRisk(device, device_problems(device), [])
            locks[device.pk].arrivals.append(reservation)
    return list(locks.values())


def prearrival_alerts(*, user, limit: int = 200) -> list[DeviceAlert]:
    """Open "code not confirmed before arrival" alerts, soonest check-in first, each with
    its `access` (the stay's lock access on that lock, with any backup code), or None.
    Two queries, however many rows."""
    alerts = list(
        scope_queryset(
            DeviceAlert.objects.filter(
                kind=DeviceAlert.Kind.PREARRIVAL_FAILED, resolved_at__isnull=True
            )
            .select_related("device", "reservation__listing__property")
            .order_by(F("reservation__check_in").asc(nulls_last=True), "pk"),
            user,
        )[:limit]
    )
    pairs = {(a.reservation_id, a.device_id) for a in alerts if a.reservation_id}
    accesses = {}
    if pairs:
        rows = LockAccess.objects.filter(
            reservation_id__in={r for r, _ in pairs}, device_id__in={d for _, d in pairs}
        )
        accesses = {(a.reservation_id, a.device_id): a for a in rows}
    for alert in alerts:
        alert.access = accesses.get((alert.reservation_id, alert.device_id))
    return alerts


# ------------------------------------------------------------------------- operations


@dataclasses.dataclass(frozen=True)
class Backlog:
    """Lock steps a worker could carry out and none has, though due for a while."""

    overdue: int
    oldest_due_at: datetime.datetime | None


def overdue_steps(*, now: datetime.datetime, older_than: datetime.timedelta) -> Backlog:
    """Steps due before `now - older_than` that no worker holds (no lease, or one run
    out) on a lock the provider is not holding back (`Device.backoff_until`): the same
    rule as the workers' own due work, so a step counts only when the cluster is behind.
    A failed step waits for its retry instant in `due_at`, so it is not counted either.
    One query on the `due_at` index."""
    found = (
        LockAccess.objects.filter(due_at__lt=now - older_than)
        .filter(LockAccess.unclaimed(now))
        .filter(Q(device__backoff_until__isnull=True) | Q(device__backoff_until__lte=now))
        .aggregate(overdue=Count("pk"), oldest_due_at=Min("due_at"))
    )
    return Backlog(**found)
