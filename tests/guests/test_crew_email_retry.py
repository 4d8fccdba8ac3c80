"""A cleaner's turnover email is a guest message of the turnover: one that cannot be sent
is shown, retried by the periodic sweep with the guests' backoff until it goes, never
dropped; a change after the cleaner was told is told once, as guests are told."""

import datetime

import pytest
import time_machine
from django.db import IntegrityError, transaction

from guests import tasks
from guests.models import GuestMessage
from reservations import turnovers
from reservations.models import Turnover
from tests.fixtures_lifecycle import same_day_pair
from tests.smtp import free_port, smtp_server, text_of

pytestmark = pytest.mark.django_db
MINUTE = datetime.timedelta(minutes=1)
State = GuestMessage.State


def mail_server_down(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens
    settings.EMAIL_TIMEOUT = 2


def crew_messages(turnover):
    return GuestMessage.objects.filter(turnover=turnover).order_by("pk")


def test_a_failed_turnover_email_is_shown_and_sent_once_the_server_is_back(
    crew, settings, django_capture_on_commit_callbacks
):
    mail_server_down(settings)
    with django_capture_on_commit_callbacks(execute=True):
        first, _second = same_day_pair(crew)
    turnover = Turnover.objects.get(after_stay=first)
    assert turnover.notified_at is None
    [message] = crew_messages(turnover)
    assert message.kind == GuestMessage.CREW_TASK and message.reservation_id is None
    assert message.state == State.RETRYING and message.attempts == 1
    assert message.recipient == "rosa@example.com"
    assert "Error" in message.last_error or "refused" in message.last_error.lower()
    retry_at = message.due_at

    with time_machine.travel(retry_at - MINUTE, tick=False):
        tasks.send_due()
    message.refresh_from_db()
    assert message.attempts == 1  # backing off: not tried again yet
    with time_machine.travel(retry_at + MINUTE, tick=False):
        tasks.send_due()
    message.refresh_from_db()
    assert message.attempts == 2 and message.state == State.RETRYING

    back_up = time_machine.travel(message.due_at + MINUTE, tick=False)
    with smtp_server(settings) as inbox, back_up:
        tasks.send_due()
        tasks.send_due()  # told once
    # Rosa cleans after other stays too: this turnover's email, once, with its code.
    to_rosa = [m for m in inbox.messages if m["To"] == "rosa@example.com"]
    [sent] = [m for m in to_rosa if turnover.code in text_of(m)]
    assert "Front gate" in text_of(sent)
    message.refresh_from_db()
    assert message.state == State.SENT and message.sent_at is not None
    turnover.refresh_from_db()
    assert turnover.notified_at == message.sent_at
    assert crew_messages(turnover).count() == 1


def test_an_email_that_keeps_failing_is_raised_as_failed_and_can_be_retried(
    crew, settings, django_capture_on_commit_callbacks
):
    mail_server_down(settings)
    with django_capture_on_commit_callbacks(execute=True):
        first, _second = same_day_pair(crew)
    turnover = Turnover.objects.get(after_stay=first)
    [message] = crew_messages(turnover)
    while message.state == State.RETRYING:
        with time_machine.travel(message.due_at, tick=False):
            tasks.send_due()
        message.refresh_from_db()
    assert message.state == State.FAILED and message.attempts == 5
    # Not dropped, nor planned again behind staff's back: raised until someone retries.
    with time_machine.travel(message.last_error_at + 10 * MINUTE, tick=False):
        tasks.send_due()
    assert crew_messages(turnover).count() == 1


def test_a_turnover_with_no_staff_door_says_why_nobody_was_told(
    crew, django_capture_on_commit_callbacks
):
    crew.listing.assignments.update(staff_access=False)
    with django_capture_on_commit_callbacks(execute=True):
        first, _second = same_day_pair(crew)
        tasks.send_due()
    turnover = Turnover.objects.get(after_stay=first)
    assert turnover.notified_at is None
    [message] = crew_messages(turnover)
    assert message.state == State.RETRYING
    assert message.last_error == "No door of the listing has staff access: nothing to send yet."


def test_a_new_window_after_rosa_was_told_is_told_once_as_a_change(
    crew, settings, django_capture_on_commit_callbacks
):
    with smtp_server(settings) as inbox:
        with django_capture_on_commit_callbacks(execute=True):
            first, second = same_day_pair(crew)
        turnover = Turnover.objects.get(after_stay=first)
        [told] = crew_messages(turnover)
        assert told.state == State.SENT
        # Jon's check-in moves an hour later: Rosa's window ends later.
        with django_capture_on_commit_callbacks(execute=True):
            second.check_in += datetime.timedelta(hours=1)
            second.save(update_fields=["check_in"])
            turnovers.listing_turnovers_sync(listing_id=crew.listing.pk)
        change = crew_messages(turnover).get(trigger=GuestMessage.Trigger.CHANGE)
        assert change.state == State.PLANNED
        with time_machine.travel(change.due_at + MINUTE, tick=False):
            tasks.send_due()
            tasks.send_due()
        change.refresh_from_db()
        assert change.state == State.SENT
        changed = [m for m in inbox.messages if "has changed" in m["Subject"]]
        assert len(changed) == 1 and changed[0]["To"] == "rosa@example.com"
        assert "now works from" in text_of(changed[0])


def test_a_message_belongs_to_a_stay_or_a_turnover_never_both_nor_neither(crew):
    first, _second = same_day_pair(crew)
    turnover = Turnover.objects.get(after_stay=first)
    common = {
        "organization_id": turnover.organization_id,
        "kind": GuestMessage.CREW_TASK,
        "trigger": GuestMessage.Trigger.STAFF,
        "state": State.SENT,
    }
    for holders in ({"reservation": first, "turnover": turnover}, {}):
        with pytest.raises(IntegrityError), transaction.atomic():
            GuestMessage.objects.create(**common, **holders)


def test_the_crew_email_is_in_the_crew_members_language(
    crew, settings, django_capture_on_commit_callbacks
):
    crew.rosa.language = "pt"
    crew.rosa.save(update_fields=["language"])
    with smtp_server(settings) as inbox, django_capture_on_commit_callbacks(execute=True):
        first, _second = same_day_pair(crew)
    turnover = Turnover.objects.get(after_stay=first)
    [sent] = [m for m in inbox.messages if turnover.code in text_of(m)]
    assert sent["Subject"].strip().startswith("Limpeza em ")
    body = text_of(sent)
    assert body.startswith("Olá Rosa,")
    assert "O seu código funciona de" in body and "“Concluído — unidade pronta”" in body
    assert "- Front gate: " + turnover.code in body
