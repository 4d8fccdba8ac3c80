"""Reads that guest-message pages share."""

from __future__ import annotations

import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from reservations.models import Reservation

from .models import GuestMessage, MessageTemplate

Kind = MessageTemplate.Kind
State = GuestMessage.State


def stays_emailed_on_save(
    template: MessageTemplate, *, now: datetime.datetime | None = None
) -> QuerySet[Reservation]:
    """The coming stays whose door-code email the saved `template` would send at once: it
    applies to them (it is their listing's, or their organization's and their listing has
    none of its own), their check-in is within its hours, and they were not emailed by a
    schedule before (sent, given up or skipped on purpose)."""
    now = now or timezone.now()
    if (
        template.kind != Kind.CODE
        or not template.active
        or template.send_hours_before is None
        or template.organization_id is None
    ):
        return Reservation.objects.none()
    stays = Reservation.objects.filter(
        organization_id=template.organization_id,
        status=Reservation.Status.CONFIRMED,
        ended_at__isnull=True,
        check_out__gt=now,
        check_in__lte=now + datetime.timedelta(hours=template.send_hours_before),
    )
    if template.listing_id:
        stays = stays.filter(listing_id=template.listing_id)
    else:
        own = MessageTemplate.objects.filter(
            kind=Kind.CODE, active=True, listing__isnull=False
        ).exclude(pk=template.pk)
        stays = stays.exclude(listing_id__in=own.values("listing_id"))
    done = GuestMessage.objects.filter(kind=Kind.CODE, trigger=GuestMessage.Trigger.SCHEDULE)
    done = done.exclude(Q(state__in=GuestMessage.PENDING_STATES) | Q(state=State.CANCELLED))
    return stays.exclude(pk__in=done.values("reservation_id"))
