"""Guest messages: templates, the planned door-code email, change notes, and deliveries.

As with the codes on the locks (reservations.services), planning and sending are two
halves:
- Planning runs when the stay's code is generated, changes or is revoked (the stay
  events of reservations.signals), when a template changes, and in a periodic catch-up.
  It writes one `GuestMessage` per planned email with its `due_at`.
- Sending (`messages_send_due`) claims each due row with a compare-and-set on
  `claimed_until`, checks again at that instant that the stay still wants it, sends the
  email outside any transaction, and records the outcome. A failure is retried with
  backoff for some hours, then raised (`failed`), never dropped.

What the guest was told is kept on each delivery (its facts); a change after that plans
one short change message, and a change undone before it went out sends nothing.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from core.timezones import format_instant
from reservations import signals
from reservations.doors import send_problem
from reservations.models import Reservation
from reservations.services import code_mark_sent

from .content import Composed, Facts, compose, facts_of, template_for
from .defaults import missing_ready_made
from .links import guest_url
from .models import GuestMessage, MessageTemplate

logger = logging.getLogger(__name__)

State = GuestMessage.State
Trigger = GuestMessage.Trigger
Channel = GuestMessage.Channel
Kind = MessageTemplate.Kind
PENDING = GuestMessage.PENDING_STATES

# A claimed email belongs to its worker this long; one that died is taken again after it.
LEASE = datetime.timedelta(minutes=5)
# After the 1st, 2nd... failure the next try waits this long; after the last, it is
# raised: a mail server down for about four hours and a half.
RETRY_DELAYS = (
    datetime.timedelta(minutes=5),
    datetime.timedelta(minutes=20),
    datetime.timedelta(hours=1),
    datetime.timedelta(hours=3),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# A change is told this long after it was made: a correction made meanwhile (a typo in a
# date fixed at once) is folded into it, and a change undone meanwhile is never told.
CHANGE_SETTLE = datetime.timedelta(minutes=10)
# A scheduled email found due this much earlier than the stay now says (its dates moved
# without a stay event) is planned again rather than sent.
EARLY_TOLERANCE = datetime.timedelta(minutes=1)

NOT_LIVE = "The reservation is not confirmed, or its stay is over: nothing is sent."
NO_SCHEDULE = "No door-code template with a send time applies to this listing."
NO_EMAIL_NOTE = (
    "The guest has no email address: copy the text or the link from the reservation page."
)


def _live(reservation: Reservation, now) -> bool:
    return reservation.is_live and now < reservation.check_out


# --------------------------------------------------------------------------- templates


@transaction.atomic
def template_save(*, template: MessageTemplate) -> MessageTemplate:
    """Create or change a template (placeholders checked); the stays it applies to follow."""
    if template.listing_id:
        template.organization_id = template.listing.organization_id
    template.full_clean()
    template.save()
    organization_id = template.organization_id
    transaction.on_commit(lambda: enqueue_organization_replan(organization_id))
    return template


@transaction.atomic
def template_delete(*, template: MessageTemplate) -> None:
    organization_id = template.organization_id
    template.delete()
    transaction.on_commit(lambda: enqueue_organization_replan(organization_id))


@transaction.atomic
def ready_made_templates_create(*, organization_id: int, active: bool) -> int:
    """Give an organization Keystay's ready-made templates (guests.defaults) it has no
    template of its own for; returns how many. `active`: switched on (a new organization)
    or off (one whose guests must not be emailed by surprise)."""
    templates = [
        MessageTemplate(
            organization_id=organization_id, listing=None, active=active, is_default=True, **f
        )
        for f in missing_ready_made(organization_id)
    ]
    for template in templates:
        template.full_clean()
    MessageTemplate.objects.bulk_create(templates)
    if templates and active:
        transaction.on_commit(lambda: enqueue_organization_replan(organization_id))
    return len(templates)


@transaction.atomic
def ready_made_templates_switch_on(
    *, organization_ids: list[int], template_ids: list[int] | None = None
) -> int:
    """A manager switches on the ready-made templates that were given switched off (all of
    their organizations', or those of `template_ids`); the organizations' coming stays are
    planned with them. Returns how many were switched on."""
    templates = MessageTemplate.objects.filter(
        organization_id__in=organization_ids, is_default=True, active=False
    )
    if template_ids is not None:
        templates = templates.filter(pk__in=template_ids)
    switched = templates.update(active=True, updated_at=timezone.now())
    for organization_id in organization_ids:
        transaction.on_commit(lambda pk=organization_id: enqueue_organization_replan(pk))
    return switched


# A re-plan plans this many stays per task, nearest first, and hands the rest to a task
# of its own: an organization with tens of thousands of coming stays would otherwise
# outlast the workers' task timeout and lose every stay past that instant.
REPLAN_CHUNK = 500


def enqueue_organization_replan(
    organization_id: int, after: tuple[datetime.datetime, int] | None = None
) -> None:
    from django_q.tasks import async_task

    async_task(
        "guests.tasks.replan_organization",
        organization_id,
        *(after or ()),
        group="guest-messages",
    )


def organization_replan(
    *, organization_id: int, after: tuple[datetime.datetime, int] | None = None, now=None
) -> int:
    """Plan again the coming stays of an organization (its templates changed), nearest
    first: REPLAN_CHUNK of them, the rest in another task, enqueued first. `after`: the
    (check-in, id) of the last stay of the chunk before. Returns how many were planned."""
    now = now or timezone.now()
    stays = Reservation.objects.filter(
        organization_id=organization_id,
        status=Reservation.Status.CONFIRMED,
        ended_at__isnull=True,
        check_out__gt=now,
    )
    if after is not None:
        check_in, pk = after
        stays = stays.filter(Q(check_in__gt=check_in) | Q(check_in=check_in, pk__gt=pk))
    # The ids first, then one stay at a time: planning a stay due now enqueues its email
    # on commit, and django-q2's ORM broker closes an obsolete connection before it
    # enqueues (on SQLite, any connection outside a transaction). A cursor left open over
    # the stays ("Cannot operate on a closed database") lost the rest of the organization.
    chunk = list(stays.order_by("check_in", "pk").values_list("check_in", "pk")[:REPLAN_CHUNK])
    if len(chunk) == REPLAN_CHUNK:
        # The rest first: another worker starts on it while this one plans its chunk, and
        # it goes on even if this task dies.
        enqueue_organization_replan(organization_id, after=chunk[-1])
    for _, pk in chunk:
        message_plan(reservation=Reservation(pk=pk), now=now)
    return len(chunk)


# ---------------------------------------------------------------------------- planning


def _enqueue_send(message_id: int) -> None:
    from django_q.tasks import async_task

    async_task("guests.tasks.send_message", message_id, group="guest-messages")


def _close(message: GuestMessage, state: str, note: str, now) -> None:
    message.state, message.note = state, note[:300]
    message.due_at = None
    message.claimed_until, message.claim_token = None, ""
    message.save(
        update_fields=["state", "note", "due_at", "claimed_until", "claim_token", "updated_at"]
    )


def notice_plan(
    *, waiting: dict, reason: str, first_trigger: str, told, facts_now, first, change, now
) -> GuestMessage | None:
    """What a crew member is told of one thing they hold (a turnover, a standing access):
    the first notice until they were told, then one change note when what they were told
    is no longer true; what waits is dropped when there is nothing to tell any more.

    `waiting`: the holder's pending messages by trigger (row-locked by the caller);
    `reason`: why nothing is told any more ("" when something is); `told`: the facts the
    person was last told (None: never); `facts_now()`: what is true now; `first()` and
    `change()`: create the first notice (due at once) and a change note (due later)."""
    if reason:
        for message in waiting.values():
            _close(message, State.CANCELLED, reason, now)
        return None
    if told is None:
        pending = waiting.get(first_trigger) or first()
        if pending is not None and pending.due_at is not None and pending.due_at <= now:
            message_id = pending.pk
            transaction.on_commit(lambda: _enqueue_send(message_id))
        return pending
    pending = waiting.get(Trigger.CHANGE)
    if told == facts_now():
        if pending is not None:
            _close(
                pending, State.SKIPPED, "Changed back before it was sent: nothing to tell.", now
            )
        return None
    if pending is not None:
        return pending  # it tells what is true when it goes out
    return change()


def _pending(reservation: Reservation, kind: str, trigger: str) -> GuestMessage | None:
    return (
        GuestMessage.objects.select_for_update()
        .filter(reservation=reservation, kind=kind, trigger=trigger, state__in=PENDING)
        .first()
    )


def _create_pending(reservation: Reservation, *, kind: str, trigger: str, due_at):
    """A new waiting email; None when another one was created meanwhile (the partial
    unique constraint allows one per stay, kind and trigger)."""
    try:
        with transaction.atomic():
            return GuestMessage.objects.create(
                organization_id=reservation.organization_id,
                reservation=reservation,
                kind=kind,
                trigger=trigger,
                channel=Channel.EMAIL,
                state=State.PLANNED,
                recipient=reservation.guest_email,
                due_at=due_at,
            )
    except IntegrityError:
        return None


def schedule_hours(reservation: Reservation) -> int | None:
    """Hours before check-in of the door-code email, or None when none is scheduled."""
    template = template_for(reservation, Kind.CODE)
    return template.send_hours_before if template is not None else None


@transaction.atomic
def message_plan(*, reservation: Reservation, now=None) -> GuestMessage | None:
    """Plan, move or drop the stay's scheduled door-code email.

    Due `send_hours_before` before check-in; at once for a stay confirmed after that
    instant. Once sent (or given up, or not sent on purpose) it is not planned again:
    later changes are told by a change message.
    """
    now = now or timezone.now()
    reservation = Reservation.objects.select_related("listing__property").get(pk=reservation.pk)
    pending = _pending(reservation, Kind.CODE, Trigger.SCHEDULE)
    hours = schedule_hours(reservation)
    if not _live(reservation, now) or hours is None:
        if pending is not None:
            _close(pending, State.CANCELLED, NOT_LIVE if hours is not None else NO_SCHEDULE, now)
        return None
    due = max(reservation.check_in - datetime.timedelta(hours=hours), now)
    if pending is None:
        done = _planned_before().filter(reservation=reservation).exists()
        if done:
            return None
        pending = _create_pending(
            reservation, kind=Kind.CODE, trigger=Trigger.SCHEDULE, due_at=due
        )
        if pending is None:
            return None
    elif pending.state == State.PLANNED and pending.due_at != due:
        # A retry keeps its backoff; a plan follows the stay's new check-in.
        pending.due_at = due
        pending.save(update_fields=["due_at", "updated_at"])
    if pending.due_at <= now:
        message_id = pending.pk
        transaction.on_commit(lambda: _enqueue_send(message_id))
    return pending


def _planned_before():
    """Scheduled door-code emails that keep a stay from being planned again: all but the
    cancelled ones, and those that found no email for a guest who has one now."""
    return (
        GuestMessage.objects.filter(kind=Kind.CODE, trigger=Trigger.SCHEDULE)
        .exclude(state=State.CANCELLED)
        .exclude(state=State.NO_EMAIL, reservation__guest_email__gt="")
    )


def last_told(reservation: Reservation, **narrower) -> GuestMessage | None:
    """The latest delivery that reached the guest with the stay's codes and times: what they
    were told (any channel; `narrower` filters, e.g. one channel and recipient)."""
    return (
        GuestMessage.objects.filter(reservation=reservation, state=State.SENT, **narrower)
        .exclude(facts_ciphertext="")
        .order_by("-sent_at", "-pk")
        .first()
    )


def told_facts(reservation: Reservation) -> Facts | None:
    told = last_told(reservation)
    return Facts.from_json(told.facts) if told is not None else None


@transaction.atomic
def message_changed_check(*, reservation: Reservation, now=None) -> GuestMessage | None:
    """After the guest was told: plan one change message when what they were told is no
    longer true, drop a waiting one when it is true again."""
    now = now or timezone.now()
    reservation = Reservation.objects.select_related("listing__property").get(pk=reservation.pk)
    pending = _pending(reservation, Kind.CHANGED, Trigger.CHANGE)
    told = told_facts(reservation)
    if told is None or not _live(reservation, now):
        if pending is not None:
            _close(pending, State.CANCELLED, NOT_LIVE, now)
        return None
    if told == facts_of(reservation):
        if pending is not None:
            _close(
                pending, State.SKIPPED, "Changed back before it was sent: nothing to tell.", now
            )
        return None
    if pending is not None:
        return pending  # it tells what is true when it goes out
    return _create_pending(
        reservation, kind=Kind.CHANGED, trigger=Trigger.CHANGE, due_at=now + CHANGE_SETTLE
    )


@transaction.atomic
def message_ready_early(*, reservation: Reservation, now=None) -> GuestMessage | None:
    """The unit was ready early and the guest's code starts earlier: they are told now
    (a "ready early" email through the same delivery as every other message)."""
    now = now or timezone.now()
    if not _live(reservation, now):
        return None
    message = _create_pending(
        reservation, kind=Kind.READY_EARLY, trigger=Trigger.EVENT, due_at=now
    )
    if message is not None:
        message_id = message.pk
        transaction.on_commit(lambda: _enqueue_send(message_id))
    return message


@transaction.atomic
def messages_cancel(*, reservation: Reservation, note: str, now=None) -> int:
    """The stay was cancelled: no email waiting for it goes out."""
    now = now or timezone.now()
    waiting = list(
        GuestMessage.objects.select_for_update().filter(reservation=reservation, state__in=PENDING)
    )
    for message in waiting:
        _close(message, State.CANCELLED, note, now)
    return len(waiting)


def _scheduled_stays(now) -> Q:
    """Stays that a door-code template with a send time applies to: their listing's own,
    or, for a listing without one, their organization's."""
    code = MessageTemplate.objects.filter(kind=Kind.CODE, active=True)
    listing_timed = code.filter(listing__isnull=False, send_hours_before__isnull=False)
    listing_any = code.filter(listing__isnull=False)
    organization_timed = code.filter(listing__isnull=True, send_hours_before__isnull=False)
    return Q(listing_id__in=listing_timed.values("listing_id")) | (
        Q(organization_id__in=organization_timed.values("organization_id"))
        & ~Q(listing_id__in=listing_any.values("listing_id"))
    )


def messages_plan_missed(*, now=None, limit: int = 500) -> int:
    """Plan the door-code email of confirmed stays that have none: a stay confirmed again
    after a cancellation tells no event, nor does a guest email added after the send
    instant. Returns how many were planned."""
    now = now or timezone.now()
    planned = _planned_before()
    stays = (
        Reservation.objects.filter(
            status=Reservation.Status.CONFIRMED, ended_at__isnull=True, check_out__gt=now
        )
        .filter(_scheduled_stays(now))
        .exclude(pk__in=planned.values("reservation_id"))
        .order_by("check_in")
    )
    count = 0
    for reservation in stays[:limit]:
        if message_plan(reservation=reservation, now=now) is not None:
            count += 1
    return count


# ----------------------------------------------------------------------------- sending


def _claim(pk: int, now) -> str | None:
    token = uuid.uuid4().hex
    claimed = (
        GuestMessage.objects.filter(pk=pk, state__in=PENDING, due_at__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + LEASE, claim_token=token)
    )
    return token if claimed else None


def messages_send_due(
    *, now=None, limit: int = 200, message_id: int | None = None, request=None
) -> int:
    """Send every due email (nearest first); returns how many were worked on. `request`:
    staff sending one now, whose address the guest link takes without KEYSTAY_PUBLIC_URL."""
    now = now or timezone.now()
    due = GuestMessage.objects.filter(state__in=PENDING, due_at__lte=now).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )
    if message_id is not None:
        due = due.filter(pk=message_id)
    worked = 0
    for pk in list(due.order_by("due_at").values_list("pk", flat=True)[:limit]):
        token = _claim(pk, now)
        if token is None:
            continue  # another worker has it
        worked += 1
        try:
            _deliver(pk, token, now, request=request)
        except Exception:  # one message's bug must not hold up the others
            logger.exception("Guest message %s: unexpected failure", pk)
            _record_failure(pk, token, "Unexpected error; Keystay will try again.", now)
    return worked


def _mine(pk: int, token: str) -> GuestMessage | None:
    """The row under a row lock, if this worker still holds it."""
    message = GuestMessage.objects.select_for_update().get(pk=pk)
    if message.claim_token != token or message.state not in PENDING:
        return None  # our lease ran out and another worker owns it now
    return message


def _finish(pk: int, token: str, state: str, note: str, now) -> None:
    with transaction.atomic():
        message = _mine(pk, token)
        if message is not None:
            _close(message, state, note, now)


def _record_failure(pk: int, token: str, error: str, now) -> None:
    with transaction.atomic():
        message = _mine(pk, token)
        if message is None:
            return
        message.attempts += 1
        message.last_error, message.last_error_at = error[:1000], now
        message.claimed_until, message.claim_token = None, ""
        if message.attempts >= MAX_ATTEMPTS:
            message.state, message.due_at = State.FAILED, None
        else:
            message.state = State.RETRYING
            message.due_at = now + RETRY_DELAYS[message.attempts - 1]
        message.save()
    logger.warning("Guest message %s failed (attempt %s): %s", pk, message.attempts, error)


def _record_sent(message: GuestMessage, *, recipient: str, facts: Facts, now) -> None:
    """Keep what the guest was told; the stay's code counts as sent."""
    message.state, message.sent_at = State.SENT, now
    message.recipient = recipient
    message.facts = facts.to_json()
    message.due_at = None
    message.claimed_until, message.claim_token = None, ""
    message.last_error = ""
    message.save()
    reservation = message.reservation
    # The stay may have changed since (then it is refused): the message went out all the same.
    with contextlib.suppress(ValidationError):
        code_mark_sent(reservation=reservation, now=now)
    # Something may have changed while the message was being written: told once more.
    message_changed_check(reservation=reservation, now=now)


def _send_email(composed: Composed, to: str) -> None:
    connection = get_connection(timeout=getattr(settings, "EMAIL_TIMEOUT", None) or 30)
    EmailMessage(
        subject=composed.subject, body=composed.body, to=[to], connection=connection
    ).send()


def _deliver(pk: int, token: str, now, *, request=None) -> None:
    message = GuestMessage.objects.select_related(
        "reservation__listing__property", "reservation__organization"
    ).get(pk=pk)
    if message.turnover_id is not None:
        # A turnover's assignee: the crew's own checks and wording, the same delivery.
        from .crew_messages import crew_deliver

        return crew_deliver(pk, token, now, request=request)
    if message.standing_id is not None:
        # A standing access's crew member: their code, doors and hours.
        from .standing_messages import standing_deliver

        return standing_deliver(pk, token, now)
    reservation = message.reservation
    # Everything is checked again at the instant of sending: the stay may have changed.
    if not _live(reservation, now):
        return _finish(pk, token, State.CANCELLED, NOT_LIVE, now)
    if reservation.code_held:
        # Held until the guest is verified: kept, not failed; sent once they are.
        return _park(pk, token, now)
    problem = send_problem(reservation, now)
    if problem:
        # No code or no door yet: it may come (a lock given guest access); retried, and
        # raised if it lasts.
        return _record_failure(pk, token, problem, now)
    if message.trigger == Trigger.SCHEDULE:
        hours = schedule_hours(reservation)
        if hours is None:
            return _finish(pk, token, State.CANCELLED, NO_SCHEDULE, now)
        due = reservation.check_in - datetime.timedelta(hours=hours)
        if due > now + EARLY_TOLERANCE:
            with transaction.atomic():
                mine = _mine(pk, token)
                if mine is not None:
                    mine.due_at, mine.claimed_until, mine.claim_token = due, None, ""
                    mine.save(update_fields=["due_at", "claimed_until", "claim_token"])
            return None
    told_row = last_told(reservation)
    told = Facts.from_json(told_row.facts) if told_row is not None else None
    if message.kind == Kind.CHANGED:
        if told is None:
            return _finish(pk, token, State.SKIPPED, "The guest was never told anything.", now)
        if told == facts_of(reservation):
            return _finish(
                pk, token, State.SKIPPED, "Nothing changed since the guest was told.", now
            )
    email = reservation.guest_email
    if not email:
        return _finish(pk, token, State.NO_EMAIL, NO_EMAIL_NOTE, now)
    composed = compose(reservation, message.kind, told=told, request=request)
    # The scheduled message is not sent again to an address that was already emailed these
    # codes and times (by staff, say), whatever was copied or sent another way since.
    emailed = (
        last_told(reservation, channel=Channel.EMAIL, recipient=email)
        if message.trigger == Trigger.SCHEDULE
        else None
    )
    if emailed is not None and Facts.from_json(emailed.facts) == composed.facts:
        when = format_instant(emailed.sent_at, reservation.listing.property.zone)
        return _finish(
            pk, token, State.SKIPPED, f"Already emailed these codes and times ({when}).", now
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
        _record_sent(mine, recipient=email, facts=composed.facts, now=timezone.now())
    return None


HELD_NOTE = "Held until the guest is verified: sent once they are."


def _park(pk: int, token: str, now) -> None:
    """A message that fell due while the stay's code is held waits, with no instant, for
    the guest's verification (`messages_release`); it is not an attempt that failed."""
    with transaction.atomic():
        message = _mine(pk, token)
        if message is None:
            return
        message.state, message.note = State.PLANNED, HELD_NOTE
        message.due_at = None
        message.claimed_until, message.claim_token = None, ""
        message.save(
            update_fields=["state", "note", "due_at", "claimed_until", "claim_token", "updated_at"]
        )


@transaction.atomic
def messages_release(*, reservation: Reservation, now=None) -> int:
    """The guest is verified: the messages that waited go out now (the door-code email at
    its instant, or now if that has passed). Returns how many waited."""
    now = now or timezone.now()
    parked = list(
        GuestMessage.objects.select_for_update().filter(
            reservation=reservation, state__in=PENDING, due_at__isnull=True
        )
    )
    for message in parked:
        message.due_at, message.note = now, ""
        message.save(update_fields=["due_at", "note", "updated_at"])
    message_plan(reservation=reservation, now=now)  # the scheduled one at its own instant
    for message in GuestMessage.objects.filter(
        reservation=reservation, state__in=PENDING, due_at__lte=now
    ):
        message_id = message.pk
        transaction.on_commit(lambda message_id=message_id: _enqueue_send(message_id))
    return len(parked)


# ---------------------------------------------------------------------- by staff, now


def _refuse_without_code(reservation: Reservation, now) -> None:
    problem = send_problem(reservation, now)
    if problem:
        raise ValidationError(problem)


def message_send_now(*, reservation: Reservation, by, request=None, now=None) -> GuestMessage:
    """Staff email the door-code message now. A failure is retried like a scheduled one
    (the returned row says how it went). `request`: the admin's, whose address the guest
    link takes when KEYSTAY_PUBLIC_URL is not set (as in the text staff copy)."""
    now = now or timezone.now()
    _refuse_without_code(reservation, now)
    if not reservation.guest_email:
        raise ValidationError(NO_EMAIL_NOTE)
    message = GuestMessage.objects.create(
        organization_id=reservation.organization_id,
        reservation=reservation,
        kind=Kind.CODE,
        trigger=Trigger.STAFF,
        channel=Channel.EMAIL,
        state=State.PLANNED,
        recipient=reservation.guest_email,
        due_at=now,
        sent_by=by,
    )
    messages_send_due(message_id=message.pk, now=now, request=request)
    message.refresh_from_db()
    return message


def _record_copy(reservation: Reservation, channel: str, facts: Facts, by, now) -> GuestMessage:
    with transaction.atomic():
        message = GuestMessage.objects.create(
            organization_id=reservation.organization_id,
            reservation=reservation,
            kind=Kind.CODE,
            trigger=Trigger.STAFF,
            channel=channel,
            state=State.SENT,
            sent_at=now,
            sent_by=by,
        )
        message.facts = facts.to_json()
        message.save(update_fields=["facts_ciphertext"])
        code_mark_sent(reservation=reservation, now=now)
        message_changed_check(reservation=reservation, now=now)
    return message


def message_copy_text(*, reservation: Reservation, by, request=None, now=None) -> Composed:
    """Staff copy the door-code message to send another way (recorded)."""
    now = now or timezone.now()
    _refuse_without_code(reservation, now)
    composed = compose(reservation, Kind.CODE, told=told_facts(reservation), request=request)
    _record_copy(reservation, Channel.COPY_TEXT, composed.facts, by, now)
    return composed


def message_copy_link(*, reservation: Reservation, by, request=None, now=None) -> str:
    """Staff copy the guest's private link to send another way (recorded)."""
    now = now or timezone.now()
    _refuse_without_code(reservation, now)
    url = guest_url(reservation, request)
    _record_copy(reservation, Channel.COPY_LINK, facts_of(reservation), by, now)
    return url


# ------------------------------------------------------------ by webhook, to a PMS

# The stay events whose webhook hands the guest's door codes to a PMS, and what they tell.
WEBHOOK_KINDS = {signals.CODE_GENERATED: Kind.CODE, signals.CODE_CHANGED: Kind.CHANGED}


def message_record_webhook(
    *,
    reservation_id: int,
    event: str,
    delivered: bool,
    recipient: str,
    attempts: int,
    error: str = "",
    reference: str = "",
    now=None,
) -> GuestMessage | None:
    """A PMS was handed the door codes by webhook (or that failed for good): recorded as a
    delivery to the guest, and a delivered one counts as the code sent.

    Called once per final outcome of a delivery that carried codes (the sender makes
    sure: a delivery without codes gave the guest nothing). Not for other events.
    """
    kind = WEBHOOK_KINDS.get(event)
    reservation = Reservation.objects.filter(pk=reservation_id).first()
    if kind is None or reservation is None:
        return None
    now = now or timezone.now()
    # No facts on purpose: the facts are what Keystay itself told the guest, and they drive
    # its own "your codes changed" email (`last_told` skips rows without them). The PMS
    # hears of a change by webhook (reservation.code_changed) and tells the guest itself.
    message = GuestMessage.objects.create(
        organization_id=reservation.organization_id,
        reservation=reservation,
        kind=kind,
        trigger=Trigger.EVENT,
        channel=Channel.WEBHOOK,
        state=State.SENT if delivered else State.FAILED,
        recipient=recipient[:254],
        attempts=attempts,
        sent_at=now if delivered else None,
        last_error="" if delivered else error[:1000],
        last_error_at=None if delivered else now,
        note=event,
        reference=reference[:64],
    )
    if delivered:
        # The stay may have been cancelled meanwhile (then it is refused): the PMS got the
        # codes all the same.
        with contextlib.suppress(ValidationError):
            code_mark_sent(reservation=reservation, now=now)
    return message


def message_retry_now(*, message: GuestMessage, now=None) -> bool:
    """Staff ask a failed or retrying email to be tried again at once."""
    now = now or timezone.now()
    try:
        with transaction.atomic():
            retried = GuestMessage.objects.filter(
                pk=message.pk, channel=Channel.EMAIL, state__in=[State.RETRYING, State.FAILED]
            ).update(state=State.RETRYING, due_at=now, attempts=0, updated_at=now)
    except IntegrityError:
        # A newer message of the same kind waits already: that one tells what is true now.
        raise ValidationError(
            "A newer message of this kind is waiting; it goes instead."
        ) from None
    if retried:
        message_id = message.pk
        transaction.on_commit(lambda: _enqueue_send(message_id))
    return bool(retried)
