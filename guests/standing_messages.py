"""The standing access email as guest messages of the standing access: the crew member is
told their code, each door, the dates and the working hours when the code and doors are
set (the event STANDING_PLANNED), sent by the same sweep, claims, retries and records as
a guest's (guests.services), in the crew member's language.

As for a turnover's assignee (guests.crew_messages): once they were told, a change of
the code, a door, the dates or the working hours plans one short change note, sent
CHANGE_SETTLE later so that a correction made meanwhile is folded in, and a change undone
before it went out is never told. What each delivery told is kept on it (its facts), per
recipient. A person offboarded, or a standing access ended, is told nothing more: what
waits is cancelled.
"""

from __future__ import annotations

import datetime
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core.languages import default_language, language_codes
from reservations.models import OPEN_END, StandingAccess
from reservations.standing import standing_live_doors as standing_doors

from .content import Composed, Facts, changes_text, local_text
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

State = GuestMessage.State
Trigger = GuestMessage.Trigger
Channel = GuestMessage.Channel
STANDING = GuestMessage.CREW_STANDING

NO_EMAIL_NOTE = (
    "The crew member has no email address: tell them their code from the standing access page."
)
OFFBOARDED_NOTE = "The crew member was offboarded: nothing is sent."
ENDED_NOTE = "The standing access ended: nothing is sent."


def _standing(standing_id: int) -> StandingAccess | None:
    return (
        StandingAccess.objects.select_related("crew_member", "listing__property", "organization")
        .filter(pk=standing_id)
        .first()
    )


def not_wanted(standing: StandingAccess | None, now) -> str:
    """Why the crew member is told nothing (any more), or ""."""
    if standing is None:
        return ENDED_NOTE
    if not standing.crew_member.active:
        return OFFBOARDED_NOTE
    if standing.ended_at is not None or standing.window[1] <= now:
        return ENDED_NOTE
    return ""


def standing_zone(standing: StandingAccess, doors: list):
    """Where the dates are read: the listing's property, else a door's (its lock
    accesses: reservations.standing.standing_live_doors), else the site's."""
    if standing.listing_id is not None:
        return standing.listing.property.zone
    for access in doors:
        if access.assignment_id is not None:
            return access.assignment.listing.property.zone
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def standing_language(standing: StandingAccess) -> str:
    """The crew member's language, else their organization's default, else the site's."""
    codes = language_codes()
    for language in (standing.crew_member.language, standing.organization.default_language):
        if language and language in codes:
            return language
    return default_language()


def _hours(standing: StandingAccess) -> tuple[tuple[str, str], ...]:
    rules = standing.hours.select_related("property").order_by("property__name", "pk")
    return tuple((r.property.name, f"{r.opens:%H:%M}–{r.closes:%H:%M}") for r in rules)


def standing_facts(standing: StandingAccess, doors: list | None = None) -> Facts:
    """What the crew member is told: the dates, each door with its code (by name) and
    the working hours. Kept on each delivery, so that a later change is told once."""
    doors = standing_doors(standing) if doors is None else doors
    starts, ends = standing.window
    return Facts(
        check_in=starts.astimezone(datetime.UTC),
        check_out=ends.astimezone(datetime.UTC),
        doors=tuple(sorted((access.door_name, access.door_code) for access in doors)),
        hours=_hours(standing),
    )


def standing_problem(standing: StandingAccess, doors: list | None = None) -> str:
    """Why there is nothing to send the crew member yet, or ""."""
    if not standing.code:
        return "No code yet: the standing access has no code to send."
    if not (standing_doors(standing) if doors is None else doors):
        return "No door to put the code on: nothing to send yet."
    return ""


def _until(ends: datetime.datetime, zone) -> str:
    return "" if ends >= OPEN_END else local_text(ends, zone)


def _changes(told: Facts, now: Facts, zone) -> str:
    lines = []
    if (told.check_in, told.check_out) != (now.check_in, now.check_out):
        starts, ends = local_text(now.check_in, zone), _until(now.check_out, zone)
        if ends:
            line = _("- Your code now works from %(starts)s until %(ends)s.")
        else:
            line = _("- Your code now works from %(starts)s until further notice.")
        lines.append(line % {"starts": starts, "ends": ends})
    # The doors' lines are the guests' ("- Front gate has a new code: 4711.").
    same_times = Facts(check_in=now.check_in, check_out=now.check_out, doors=told.doors)
    lines.append(changes_text(same_times, now, zone))
    if told.hours != now.hours:
        lines.append(_("- Your working hours changed."))
    return "\n".join(filter(None, lines))


def compose_standing(standing: StandingAccess, *, told: Facts | None = None) -> Composed:
    """The crew member's email, in their language: the first notice, or (`told`: what
    they were told last) a note of what changed since."""
    with translation.override(standing_language(standing)):
        doors = standing_doors(standing)
        zone = standing_zone(standing, doors)
        facts = standing_facts(standing, doors)
        starts, ends = standing.window
        values = {
            "name": standing.crew_member.name,
            "code": standing.code,
            "starts": local_text(starts, zone),
            "ends": _until(ends, zone),
        }
        parts = [_("Hello %(name)s,") % values, ""]
        if told is not None and told != facts:
            subject = _("Your door code has changed")
            parts += [_("Something about your door code changed:"), _changes(told, facts, zone)]
            parts += [""]
        else:
            subject = _("Your door code")
        if values["ends"]:
            parts.append(_("Your door code is %(code)s, from %(starts)s until %(ends)s.") % values)
        else:
            parts.append(
                _("Your door code is %(code)s, from %(starts)s until further notice.") % values
            )
        being_set = _("(being set)")
        parts += ["", _("Doors:")]
        parts += [f"- {name}: {code or being_set}" for name, code in facts.doors]
        if facts.hours:
            parts += ["", _("Working hours (local time; an unlock outside them is reported):")]
            parts += [f"- {where}: {when}" for where, when in facts.hours]
    return Composed(subject=subject, body="\n".join(parts) + "\n", facts=facts, template=None)


def standing_last_told(standing: StandingAccess, recipient: str) -> GuestMessage | None:
    """The latest email that told this recipient the standing code, doors and dates."""
    return (
        GuestMessage.objects.filter(standing=standing, state=State.SENT, recipient=recipient)
        .exclude(facts_ciphertext="")
        .order_by("-sent_at", "-pk")
        .first()
    )


def _told_facts(standing: StandingAccess, recipient: str) -> Facts | None:
    told = standing_last_told(standing, recipient)
    return Facts.from_json(told.facts) if told is not None else None


def _create_pending(standing: StandingAccess, *, trigger: str, due_at) -> GuestMessage | None:
    """A new waiting email; None when another was created meanwhile (one per standing
    access and trigger waits: see the model's constraint)."""
    try:
        with transaction.atomic():
            return GuestMessage.objects.create(
                organization_id=standing.organization_id,
                standing=standing,
                kind=STANDING,
                trigger=trigger,
                channel=Channel.EMAIL,
                state=State.PLANNED,
                recipient=standing.crew_member.email,
                due_at=due_at,
            )
    except IntegrityError:
        return None


@transaction.atomic
def standing_message_plan(*, standing_id: int, now=None) -> GuestMessage | None:
    """Plan what the crew member is told: the first notice (due at once) until they were
    told, then a change note when what they were told is no longer true. Cancels what
    waits when there is nothing to tell any more (offboarded, ended)."""
    now = now or timezone.now()
    standing = _standing(standing_id)
    if standing is None:
        return None
    waiting = {
        message.trigger: message
        for message in GuestMessage.objects.select_for_update().filter(
            standing=standing, state__in=PENDING, trigger__in=[Trigger.STANDING, Trigger.CHANGE]
        )
    }
    reason = not_wanted(standing, now)
    if not reason and not standing.crew_member.email:
        reason = NO_EMAIL_NOTE
    return notice_plan(
        waiting=waiting,
        reason=reason,
        first_trigger=Trigger.STANDING,
        told=None if reason else _told_facts(standing, standing.crew_member.email),
        facts_now=lambda: standing_facts(standing),
        first=lambda: _create_pending(standing, trigger=Trigger.STANDING, due_at=now),
        change=lambda: _create_pending(
            standing, trigger=Trigger.CHANGE, due_at=now + CHANGE_SETTLE
        ),
        now=now,
    )


def standing_messages_plan_missed(*, now=None, limit: int = 200) -> int:
    """The periodic catch-up: live standing accesses whose crew member has no email
    waiting, sent or raised as failed (their code was set while the event was lost, say).
    Returns how many were planned."""
    now = now or timezone.now()
    handled = GuestMessage.objects.filter(standing=OuterRef("pk")).filter(
        state__in=[*PENDING, State.FAILED, State.SENT]
    )
    standings = (
        StandingAccess.objects.filter(ended_at__isnull=True, crew_member__active=True)
        .exclude(ends_at__lte=now)
        .exclude(crew_member__email="")
        .exclude(code_ciphertext="")
        .exclude(Exists(handled))
        .order_by("starts_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(
        standing_message_plan(standing_id=pk, now=now) is not None for pk in list(standings)
    )


def standing_message_send_now(*, standing: StandingAccess, by, now=None) -> GuestMessage:
    """Staff email the crew member their code now (again). A failure is retried like any
    other (the returned row says how it went)."""
    now = now or timezone.now()
    standing = _standing(standing.pk)
    reason = not_wanted(standing, now) or standing_problem(standing)
    if reason:
        raise ValidationError(reason)
    if not standing.crew_member.email:
        raise ValidationError(NO_EMAIL_NOTE)
    message = GuestMessage.objects.create(
        organization_id=standing.organization_id,
        standing=standing,
        kind=STANDING,
        trigger=Trigger.STAFF,
        channel=Channel.EMAIL,
        state=State.PLANNED,
        recipient=standing.crew_member.email,
        due_at=now,
        sent_by=by,
    )
    messages_send_due(message_id=message.pk, now=now)
    message.refresh_from_db()
    return message


def standing_deliver(pk: int, token: str, now) -> None:
    """Send one claimed standing email (guests.services.messages_send_due), everything
    checked again at this instant: the standing access may have changed or ended."""
    message = GuestMessage.objects.get(pk=pk)
    standing = _standing(message.standing_id)
    reason = not_wanted(standing, now)
    if reason:
        return _finish(pk, token, State.CANCELLED, reason, now)
    email = standing.crew_member.email
    if not email:
        return _finish(pk, token, State.NO_EMAIL, NO_EMAIL_NOTE, now)
    doors = standing_doors(standing)
    problem = standing_problem(standing, doors)
    if problem:
        # No code or no door yet: it may come; retried, and raised if it lasts.
        return _record_failure(pk, token, problem, now)
    told = _told_facts(standing, email)
    facts = standing_facts(standing, doors)
    if message.trigger == Trigger.CHANGE:
        if told is None:
            return _finish(pk, token, State.SKIPPED, "The crew member was never told.", now)
        if told == facts:
            return _finish(pk, token, State.SKIPPED, "Nothing changed since they were told.", now)
    elif message.trigger == Trigger.STANDING and told == facts:
        return _finish(pk, token, State.SKIPPED, "Already emailed this code and these doors.", now)
    composed = compose_standing(standing, told=told if message.trigger == Trigger.CHANGE else None)
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
        # Something may have changed while the email was being written: told once more.
        standing_message_plan(standing_id=standing.pk, now=sent_at)
    return None
