"""What outgoing webhooks hear from `reservations` (its `stay_event` signal)."""

from __future__ import annotations

import datetime

from django.db import transaction

from .services import deliveries_record, enqueue


def record_stay_event(
    sender,
    *,
    event: str,
    reservation_id: int,
    lock_access_id: int | None,
    at: datetime.datetime,
    **kwargs,
) -> None:
    """Owe the event to every endpoint that listens, then ask the cluster to send it now.

    The signal comes after the stay's change committed; the rows are written in a
    transaction of their own, and the tasks are queued once it commits.
    """
    with transaction.atomic():
        ids = deliveries_record(
            event=event, reservation_id=reservation_id, lock_access_id=lock_access_id, at=at
        )
        if ids:
            transaction.on_commit(lambda: enqueue(ids))
