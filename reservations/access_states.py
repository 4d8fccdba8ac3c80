"""A lock access's states: which moves are allowed, and the one writer of them.

(See docs/lock-access-states.md for the diagram drawn from TRANSITIONS.)
"""

from __future__ import annotations

from .models import LockAccess, LockAccessLog


def access_log(
    access: LockAccess, entries: list[tuple[str, str, str]], *, source: str, at, event_id=""
) -> None:
    """Write what happened to one lock's code on its history (see LockAccessLog)."""
    if entries:
        LockAccessLog.objects.bulk_create(
            LockAccessLog(
                organization_id=access.organization_id,
                access_id=access.pk,
                at=at,
                kind=kind,
                source=source,
                provider_id=provider_id or access.provider_id,
                provider_event_id=event_id[:100],
                detail=detail[:300],
            )
            for kind, provider_id, detail in entries
        )
