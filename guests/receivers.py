"""What guest messages do when reservations tell them a stay's code changed."""

from __future__ import annotations

import logging

from reservations import signals
from reservations.models import Reservation

from . import crew_messages, services

logger = logging.getLogger(__name__)


def on_organization_created(sender, organization_id, **kwargs):
    """A new organization starts with the ready-made templates switched on: its first
    guest is told without a manager writing anything."""
    services.ready_made_templates_create(organization_id=organization_id, active=True)


def on_crew_event(sender, event, turnover_id, reservation_id=None, at=None, **kwargs):
    """READY_EARLY tells the next guest; TURNOVER_PLANNED tells the assignee."""
    if event == signals.READY_EARLY and reservation_id is not None:
        reservation = Reservation.objects.filter(pk=reservation_id).first()
        if reservation is not None:
            services.message_ready_early(reservation=reservation)
    elif event == signals.TURNOVER_PLANNED:
        crew_messages.crew_message_plan(turnover_id=turnover_id)


def on_stay_event(sender, event, reservation_id, lock_access_id=None, at=None, **kwargs):
    """CODE_GENERATED plans the door-code email; CODE_CHANGED plans it again (new dates)
    and tells a guest who was told already; CODE_REVOKED drops what was waiting; VERIFIED
    sends what waited for the guest's verification."""
    if event not in (
        signals.CODE_GENERATED,
        signals.CODE_CHANGED,
        signals.CODE_REVOKED,
        signals.VERIFIED,
    ):
        return
    reservation = Reservation.objects.filter(pk=reservation_id).first()
    if reservation is None:
        return
    if event == signals.VERIFIED:
        services.messages_release(reservation=reservation)
        return
    if event == signals.CODE_REVOKED:
        services.messages_cancel(
            reservation=reservation, note="The reservation was cancelled: nothing is sent."
        )
        return
    services.message_plan(reservation=reservation)
    if event == signals.CODE_CHANGED:
        services.message_changed_check(reservation=reservation)
