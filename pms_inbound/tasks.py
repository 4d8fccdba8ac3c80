"""django-q2 entry points: ids in, services do the work."""

from __future__ import annotations

from . import services


def apply_delivery(delivery_id: int) -> None:
    services.delivery_apply(delivery_id=delivery_id)


def apply_due() -> int:
    return services.deliveries_apply_due()
