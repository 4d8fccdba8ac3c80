"""The crew member's side of a standing access: an email with their code, each door, the
dates and the working hours, sent when the code and doors are set and whenever they
change (reservations.signals.STANDING_PLANNED)."""

from __future__ import annotations

import logging
import zoneinfo

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from reservations.models import OPEN_END, LockAccess, StandingAccess

from .content import local_text

logger = logging.getLogger(__name__)


def _zone(standing: StandingAccess, accesses: list[LockAccess]):
    if standing.listing_id is not None:
        return standing.listing.property.zone
    for access in accesses:
        if access.assignment_id is not None:
            return access.assignment.listing.property.zone
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def compose_standing(standing: StandingAccess, accesses: list[LockAccess]) -> tuple[str, str]:
    zone = _zone(standing, accesses)
    starts, ends = standing.window
    doors = "\n".join(f"- {a.door_name}" for a in accesses)
    until = "until further notice" if ends >= OPEN_END else f"until {local_text(ends, zone)}"
    hours = "\n".join(
        f"- {rule.property.name}: {rule.opens:%H:%M}–{rule.closes:%H:%M}"
        for rule in standing.hours.select_related("property").order_by("property__name")
    )
    body = (
        f"Hello {standing.crew_member.name},\n\n"
        f"Your door code is {standing.code}, from {local_text(starts, zone)} {until}.\n\n"
        f"Doors:\n{doors}\n"
    )
    if hours:
        body += f"\nWorking hours (local time; an unlock outside them is reported):\n{hours}\n"
    return "Your door code", body


def standing_notify(*, standing_id: int) -> bool:
    """Email the crew member their standing code and doors. False when there is nobody
    to tell or nothing to tell yet; a mail server down is logged (the manager sees the
    doors in the admin and may save the standing access again to resend)."""
    standing = (
        StandingAccess.objects.select_related("crew_member", "listing__property")
        .filter(pk=standing_id)
        .first()
    )
    if standing is None or not standing.is_live or not standing.crew_member.email:
        return False
    accesses = list(
        standing.lock_accesses.filter(wanted=True)
        .exclude(state__in=LockAccess.FINAL_STATES)
        .select_related("device", "assignment__listing__property")
        .order_by("pk")
    )
    if not accesses or not standing.code:
        return False
    subject, body = compose_standing(standing, accesses)
    connection = get_connection(timeout=getattr(settings, "EMAIL_TIMEOUT", None) or 30)
    try:
        EmailMessage(
            subject=subject, body=body, to=[standing.crew_member.email], connection=connection
        ).send()
    except Exception as error:  # a mail server down must not undo the plan
        logger.warning("Standing access %s: crew member not emailed (%s)", standing_id, error)
        return False
    return True


def on_standing_event(sender, event, standing_id, at=None, **kwargs):
    standing_notify(standing_id=standing_id)
