"""Reads the lifecycle, pages and the API share."""

from __future__ import annotations

import datetime

from django.db.models import Q, QuerySet

from .models import LockAccess


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
    from core.access import scope_queryset

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
    from core.access import scope_queryset

    return scope_queryset(
        LockAccess.objects.filter(state=LockAccess.State.FAILED).select_related(
            "device", "reservation__listing__property"
        ),
        user,
    )
