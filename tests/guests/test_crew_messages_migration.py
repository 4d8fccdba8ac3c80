"""The move of the crew email onto guest messages keeps what each turnover's email had
done: a turnover whose assignee was told has a sent message (with what they were told,
so that they are not told again), one whose email was failing goes on retrying with its
tries and error shown."""

import datetime
import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from guests.crew_messages import crew_message_plan
from guests.models import GuestMessage
from properties.models import CrewMember
from reservations.models import Turnover
from tests.factories import (
    ListingFactory,
    OrganizationFactory,
    PropertyFactory,
    ReservationFactory,
)

BEFORE = [("guests", "0008_ready_early_message_kind")]


def make_turnover(organization, listing, name):
    stay = ReservationFactory(listing=listing, guest_name=name)
    rosa = CrewMember.objects.create(
        organization=organization, name=f"Rosa {name}", email=f"{name.lower()}@example.com"
    )
    starts = timezone.now() + datetime.timedelta(days=2)
    return Turnover.objects.create(
        organization=organization,
        listing=listing,
        after_stay=stay,
        assignee=rosa,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(hours=4),
    )


@pytest.mark.django_db(transaction=True)
def test_each_turnovers_email_state_becomes_a_message():
    organization = OrganizationFactory()
    listing = ListingFactory(
        property=PropertyFactory(organization=organization),
        turnover_buffer_minutes=30,
        turnovers_enabled=True,
    )
    told = make_turnover(organization, listing, "Told")
    failing = make_turnover(organization, listing, "Failing")
    untouched = make_turnover(organization, listing, "Untouched")
    told_at = timezone.now().replace(microsecond=0) - datetime.timedelta(hours=1)

    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    state = executor.loader.project_state(
        [*BEFORE, ("reservations", "0024_turnover_notify_retries")]
    )
    old = state.apps.get_model("reservations", "Turnover")
    old.objects.filter(pk=told.pk).update(notified_at=told_at)
    old.objects.filter(pk=failing.pk).update(
        notify_error="Email not sent: connection refused",
        notify_attempts=3,
        notify_failed_at=told_at,
    )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    [sent] = GuestMessage.objects.filter(turnover=told)
    assert (sent.kind, sent.state, sent.channel) == ("crew_task", "sent", "email")
    assert sent.reservation_id is None and sent.sent_at == told_at
    assert sent.recipient == "told@example.com"
    facts = json.loads(sent.facts)
    assert facts["check_in"] == (told.starts_at - datetime.timedelta(minutes=30)).isoformat()
    [retrying] = GuestMessage.objects.filter(turnover=failing)
    assert retrying.state == "retrying" and retrying.attempts == 3
    assert retrying.last_error == "Email not sent: connection refused"
    assert retrying.last_error_at == told_at and retrying.due_at is not None
    assert not GuestMessage.objects.filter(turnover=untouched).exists()
    # Told already: nothing new is planned for the assignee while nothing changed.
    crew_message_plan(turnover_id=told.pk)
    assert GuestMessage.objects.filter(turnover=told).count() == 1
    assert {f.name for f in Turnover._meta.get_fields()}.isdisjoint(
        {"notify_error", "notify_attempts", "notify_failed_at"}
    )
