"""django-q2 entry points: thin, called with ids, delegating to services."""

from .services import deliver_due as _deliver_due
from .services import delivery_attempt

# Well inside django-q2's 120 s task timeout, even when the last request runs to its
# deadline.
SWEEP_BUDGET_SECONDS = 60


def deliver(delivery_id: int) -> str:
    """One delivery's attempt now (queued when the event happens or a person resends)."""
    return delivery_attempt(delivery_id)


def deliver_due() -> str:
    """The periodic sweep: every attempt that is due, the oldest first."""
    return f"{_deliver_due(budget_seconds=SWEEP_BUDGET_SECONDS)} attempts"
