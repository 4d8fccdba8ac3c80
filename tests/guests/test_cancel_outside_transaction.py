"""A stay's events reach guest messages after the stay's transaction has committed, with
no transaction open: a cancellation must still drop the email that was waiting (on
PostgreSQL, a row lock taken outside a transaction is refused, and the receiver's error
was only logged)."""

import datetime

import pytest
from django.utils import timezone

from guests.models import GuestMessage, MessageTemplate
from reservations import signals
from tests.factories import ReservationFactory


@pytest.mark.django_db(transaction=True)
def test_a_cancellation_announced_after_commit_drops_the_waiting_email():
    stay = ReservationFactory()
    waiting = GuestMessage.objects.create(
        organization=stay.organization,
        reservation=stay,
        kind=MessageTemplate.Kind.CODE,
        trigger=GuestMessage.Trigger.SCHEDULE,
        state=GuestMessage.State.PLANNED,
        recipient=stay.guest_email,
        due_at=timezone.now() + datetime.timedelta(days=1),
    )
    signals.send_stay_event(signals.CODE_REVOKED, stay.pk, None, timezone.now())
    waiting.refresh_from_db()
    assert waiting.state == GuestMessage.State.CANCELLED
