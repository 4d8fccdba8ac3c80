"""Hooks by which `reservations` tells the apps above it what happened to a stay's code.

`reservations` never imports those apps (guest messages, outgoing webhooks): they connect
receivers to `stay_event` in their `AppConfig.ready()`. Events are sent only once the
transaction that made them commits, so a receiver never hears of a change that was rolled
back; a receiver that raises is logged and never undoes the change.
"""

from __future__ import annotations

import datetime
import logging

from django.db import DatabaseError, transaction
from django.dispatch import Signal
from django.utils import timezone

logger = logging.getLogger(__name__)

# What happened, in the names outgoing webhooks use.
CODE_GENERATED = "reservation.code_generated"
# What the guest was told changed: the code, a door's code, the doors, or the times.
CODE_CHANGED = "reservation.code_changed"
CODE_REVOKED = "reservation.code_revoked"
LOCK_CONFIRMED = "lock_access.confirmed"
LOCK_FAILED = "lock_access.failed"
ARRIVED = "reservation.arrived"
# Guest verification (reservations.verification): the code held until the guest is
# verified, released when they are (with the doors and codes, as a code event), held
# again when a verification is revoked, and the manager alerted before check-in.
VERIFICATION_HELD = "reservation.verification_held"
VERIFIED = "reservation.verified"
VERIFICATION_REVOKED = "reservation.verification_revoked"
VERIFICATION_OVERDUE = "reservation.verification_overdue"
EVENTS = (
    CODE_GENERATED,
    CODE_CHANGED,
    LOCK_CONFIRMED,
    LOCK_FAILED,
    ARRIVED,
    CODE_REVOKED,
    VERIFICATION_HELD,
    VERIFIED,
    VERIFICATION_REVOKED,
    VERIFICATION_OVERDUE,
)

# kwargs: event (one of EVENTS), reservation_id (int), lock_access_id (int | None: set for
# the lock_access.* events), at (aware datetime: when it happened).
stay_event = Signal()


def announce(
    event: str,
    *,
    reservation_id: int,
    lock_access_id: int | None = None,
    at: datetime.datetime | None = None,
) -> None:
    """Send `event` to the apps above once the current transaction commits (at once when
    none is open)."""
    if event not in EVENTS:
        raise ValueError(f"Unknown stay event {event!r}")
    at = at or timezone.now()
    transaction.on_commit(lambda: send_stay_event(event, reservation_id, lock_access_id, at))


def send_stay_event(
    event: str, reservation_id: int, lock_access_id: int | None, at: datetime.datetime
) -> None:
    """Tell the receivers now (what `announce` does once the transaction commits)."""
    for receiver, result in stay_event.send_robust(
        sender=None,
        event=event,
        reservation_id=reservation_id,
        lock_access_id=lock_access_id,
        at=at,
    ):
        if isinstance(result, Exception):
            logger.error(
                "Receiver %r failed on %s for reservation %s",
                receiver,
                event,
                reservation_id,
                exc_info=result,
            )


def announce_many(event: str, *, reservation_ids: list[int], at: datetime.datetime) -> None:
    """`announce` for many stays (a bulk re-plan): once the transaction commits, one
    cluster task tells the receivers of each stay in turn, so that the change that made
    them (a listing import) does not wait for every stay's guest email and webhook to be
    planned. When the broker cannot take the task, they are told at once, as `announce`
    would."""
    if event not in EVENTS:
        raise ValueError(f"Unknown stay event {event!r}")
    ids = list(reservation_ids)
    if ids:
        transaction.on_commit(lambda: enqueue_stay_events(event, ids, at))


def enqueue_stay_events(event: str, reservation_ids: list[int], at: datetime.datetime) -> None:
    from django_q.tasks import async_task
    from redis.exceptions import RedisError

    try:
        async_task(
            "reservations.tasks.send_stay_events", event, reservation_ids, at, group="lifecycle"
        )
    except (RedisError, DatabaseError) as error:
        logger.warning("Stay events not queued (%s): told at once", error)
        send_stay_events(event, reservation_ids, at)


def send_stay_events(event: str, reservation_ids: list[int], at: datetime.datetime) -> None:
    for reservation_id in reservation_ids:
        send_stay_event(event, reservation_id, None, at)


# Crew events, for the apps above (guests tells the assignee and the next guest), sent
# once the transaction commits like `stay_event`. kwargs: event (one of CREW_EVENTS),
# turnover_id (int), reservation_id (int | None: the next stay, for READY_EARLY), at.
TURNOVER_PLANNED = "turnover.planned"  # a turnover's code and window are set or changed
READY_EARLY = "reservation.ready_early"  # the unit was ready early: the next guest's code
CREW_EVENTS = (TURNOVER_PLANNED, READY_EARLY)
crew_event = Signal()


def announce_crew(
    event: str,
    *,
    turnover_id: int,
    reservation_id: int | None = None,
    at: datetime.datetime | None = None,
) -> None:
    """Send a crew event to the apps above once the current transaction commits."""
    if event not in CREW_EVENTS:
        raise ValueError(f"Unknown crew event {event!r}")
    at = at or timezone.now()

    def send() -> None:
        for receiver, result in crew_event.send_robust(
            sender=None, event=event, turnover_id=turnover_id, reservation_id=reservation_id, at=at
        ):
            if isinstance(result, Exception):
                logger.error(
                    "Receiver %r failed on %s for turnover %s",
                    receiver,
                    event,
                    turnover_id,
                    exc_info=result,
                )

    transaction.on_commit(send)


# A standing crew code's doors, code or dates set or changed (reservations.standing), sent
# once the transaction commits: guests tells the crew member. kwargs: event
# (STANDING_PLANNED), standing_id (int), at.
STANDING_PLANNED = "standing.planned"
standing_event = Signal()


def announce_standing(*, standing_id: int, at: datetime.datetime | None = None) -> None:
    """Send STANDING_PLANNED to the apps above once the current transaction commits."""
    at = at or timezone.now()

    def send() -> None:
        for receiver, result in standing_event.send_robust(
            sender=None, event=STANDING_PLANNED, standing_id=standing_id, at=at
        ):
            if isinstance(result, Exception):
                logger.error(
                    "Receiver %r failed for standing access %s",
                    receiver,
                    standing_id,
                    exc_info=result,
                )

    transaction.on_commit(send)
