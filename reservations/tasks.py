"""django-q2 entry points: thin, called with ids, delegating to services."""

import time

from .services import process_due

# The sweep runs every minute and keeps looking for due work for most of that minute,
# so a step is carried out within seconds of its due instant even though django-q2's
# scheduler itself may start a schedule up to 30 s late.
SWEEP_SECONDS = 45
SWEEP_PAUSE = 5


def process_reservation(reservation_id: int) -> int:
    """Run one reservation's due steps now (enqueued when its plan changes)."""
    return process_due(reservation_id=reservation_id)


def sweep() -> int:
    worked = 0
    deadline = time.monotonic() + SWEEP_SECONDS
    # Well inside django-q2's 120 s task timeout, however slow the provider.
    stop_after = deadline + 30
    while True:
        worked += process_due(stop_after=stop_after)
        if time.monotonic() + SWEEP_PAUSE > deadline:
            return worked
        time.sleep(SWEEP_PAUSE)
