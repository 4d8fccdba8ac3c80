"""The crew task email as guest messages of a turnover: planned when the turnover's code
and window are set (the crew event TURNOVER_PLANNED), sent by the same sweep, claims,
retries and records as a guest's (guests.services), worded by guests.crew.

As for a guest: the first notice tells the assignee their doors, code and window; once
they were told, a change (another window, a door more or less, a new code) plans one
short change note, sent CHANGE_SETTLE later so that a correction made meanwhile is folded
in, and a change undone before it went out is never told. What each delivery told is kept
on it (its facts), per recipient: a new assignee gets the first notice.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from reservations.models import Turnover
from reservations.turnovers import turnover_notified

from .content import Facts
from .crew import compose_task, crew_doors, crew_facts, crew_problem
from .models import GuestMessage
from .services import (
    CHANGE_SETTLE,
    PENDING,
    _finish,
    _mine,
    _record_failure,
    _send_email,
    messages_send_due,
    notice_plan,
)

logger = logging.getLogger(__name__)

State = GuestMessage.State
Trigger = GuestMessage.Trigger
Channel = GuestMessage.Channel
CREW = GuestMessage.CREW_TASK

NO_EMAIL_NOTE = (
    "The crew member has no email address: pass on the task link from the turnover page."
)


def _turnover(turnover_id: int) -> Turnover | None:
    return (
        Turnover.objects.select_related("listing__property", "assignee", "organization")
        .filter(pk=turnover_id)
        .first()
    )


def not_wanted(turnover: Turnover | None, now) -> str:
    """Why the assignee is told nothing (any more), or ""."""
    if turnover is None or not turnover.is_live:
        return "The turnover is done or cancelled: nothing is sent."
    if turnover.assignee_id is None:
        return "Nobody is assigned to the turnover: nothing is sent."
    if turnover.window[1] <= now:
        return "The turnover is over: nothing is sent."
    return ""


def crew_last_told(turnover: Turnover, recipient: str) -> GuestMessage | None:
    """The latest email that told this recipient the turnover's doors, code and window."""
    return (
        GuestMessage.objects.filter(turnover=turnover, state=State.SENT, recipient=recipient)
        .exclude(facts_ciphertext="")
        .order_by("-sent_at", "-pk")
        .first()
    )


def _told_facts(turnover: Turnover, recipient: str) -> Facts | None:
    told = crew_last_told(turnover, recipient)
    return Facts.from_json(told.facts) if told is not None else None


def _create_pending(turnover: Turnover, *, trigger: str, due_at) -> GuestMessage | None:
    """A new waiting email; None when another was created meanwhile (one per turnover
    and trigger waits: see the model's constraint)."""
    try:
        with transaction.atomic():
            return GuestMessage.objects.create(
                organization_id=turnover.organization_id,
                turnover=turnover,
                kind=CREW,
                trigger=trigger,
                channel=Channel.EMAIL,
                state=State.PLANNED,
                recipient=turnover.assignee.email,
                due_at=due_at,
            )
    except IntegrityError:
        return None


@transaction.atomic
def crew_message_plan(*, turnover_id: int, now=None) -> GuestMessage | None:
    """Plan what the assignee is told: the first notice (due at once) until they were
    told, then a change note when what they were told is no longer true. Drops what
    waits when there is nothing to tell any more."""
    now = now or timezone.now()
    turnover = _turnover(turnover_id)
    if turnover is None:
        return None
    waiting = {
        message.trigger: message
        for message in GuestMessage.objects.select_for_update().filter(
            turnover=turnover, state__in=PENDING, trigger__in=[Trigger.TURNOVER, Trigger.CHANGE]
        )
    }
    reason = not_wanted(turnover, now)
    if not reason and not turnover.assignee.email:
        reason = NO_EMAIL_NOTE
    return notice_plan(
        waiting=waiting,
        reason=reason,
        first_trigger=Trigger.TURNOVER,
        told=None if reason else _told_facts(turnover, turnover.assignee.email),
        facts_now=lambda: crew_facts(turnover),
        first=lambda: _create_pending(turnover, trigger=Trigger.TURNOVER, due_at=now),
        change=lambda: _create_pending(
            turnover, trigger=Trigger.CHANGE, due_at=now + CHANGE_SETTLE
        ),
        now=now,
    )


def crew_messages_plan_missed(*, now=None, limit: int = 200) -> int:
    """The periodic catch-up: live turnovers whose assignee was never told and has no
    email waiting or raised as failed (a turnover that had no staff door when it was
    planned, say). Returns how many were planned."""
    now = now or timezone.now()
    handled = GuestMessage.objects.filter(turnover=OuterRef("pk")).filter(
        state__in=[*PENDING, State.FAILED, State.SENT]
    )
    turnovers = (
        Turnover.objects.filter(
            notified_at__isnull=True,
            state__in=[Turnover.State.PLANNED, Turnover.State.STARTED],
            impossible=False,
            listing__turnovers_enabled=True,
            assignee__isnull=False,
            ends_at__gt=now,
        )
        .exclude(assignee__email="")
        .exclude(Exists(handled))
        .order_by("starts_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(crew_message_plan(turnover_id=pk, now=now) is not None for pk in list(turnovers))


def crew_message_send_now(*, turnover: Turnover, by, request=None, now=None) -> GuestMessage:
    """Staff email the assignee their task now (again). A failure is retried like any
    other (the returned row says how it went)."""
    now = now or timezone.now()
    turnover = _turnover(turnover.pk)
    reason = not_wanted(turnover, now) or crew_problem(turnover)
    if reason:
        raise ValidationError(reason)
    if not turnover.assignee.email:
        raise ValidationError(NO_EMAIL_NOTE)
    message = GuestMessage.objects.create(
        organization_id=turnover.organization_id,
        turnover=turnover,
        kind=CREW,
        trigger=Trigger.STAFF,
        channel=Channel.EMAIL,
        state=State.PLANNED,
        recipient=turnover.assignee.email,
        due_at=now,
        sent_by=by,
    )
    messages_send_due(message_id=message.pk, now=now, request=request)
    message.refresh_from_db()
    return message


def crew_deliver(pk: int, token: str, now, *, request=None) -> None:
    """Send one claimed crew email (guests.services.messages_send_due), everything
    checked again at this instant: the turnover may have changed."""
    message = GuestMessage.objects.get(pk=pk)
    turnover = _turnover(message.turnover_id)
    reason = not_wanted(turnover, now)
    if reason:
        return _finish(pk, token, State.CANCELLED, reason, now)
    email = turnover.assignee.email
    if not email:
        return _finish(pk, token, State.NO_EMAIL, NO_EMAIL_NOTE, now)
    doors = crew_doors(turnover)
    problem = crew_problem(turnover, doors)
    if problem:
        # No code or no staff door yet: it may come; retried, and raised if it lasts.
        return _record_failure(pk, token, problem, now)
    told = _told_facts(turnover, email)
    facts = crew_facts(turnover, doors)
    if message.trigger == Trigger.CHANGE:
        if told is None:
            return _finish(pk, token, State.SKIPPED, "The crew member was never told.", now)
        if told == facts:
            return _finish(pk, token, State.SKIPPED, "Nothing changed since they were told.", now)
    elif message.trigger == Trigger.TURNOVER and told == facts:
        return _finish(pk, token, State.SKIPPED, "Already emailed this code and window.", now)
    composed = compose_task(
        turnover, told=told if message.trigger == Trigger.CHANGE else None, request=request
    )
    try:
        _send_email(composed, email)
    except Exception as error:  # a mail server down, refusing, or timing out
        return _record_failure(pk, token, f"{type(error).__name__}: {error}", now)
    with transaction.atomic():
        mine = _mine(pk, token)
        if mine is None:
            # Our lease ran out while the server took the message: keep what was sent.
            mine = GuestMessage.objects.select_for_update().get(pk=pk)
            if mine.state == State.SENT:
                return None
        sent_at = timezone.now()
        mine.state, mine.sent_at, mine.recipient = State.SENT, sent_at, email
        mine.facts = composed.facts.to_json()
        mine.due_at, mine.claimed_until, mine.claim_token = None, None, ""
        mine.last_error = ""
        mine.save()
        turnover_notified(turnover_id=turnover.pk, at=sent_at)
        # Something may have changed while the email was being written: told once more.
        crew_message_plan(turnover_id=turnover.pk, now=sent_at)
    return None
