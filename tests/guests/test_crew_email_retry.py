"""A cleaner's turnover email that cannot be sent is shown on the turnover and tried
again by the periodic sweep, backing off, until it goes: never dropped."""

import datetime

import pytest
import time_machine

from guests import tasks
from reservations.models import Turnover
from tests.fixtures_lifecycle import same_day_pair
from tests.smtp import free_port, smtp_server, text_of

pytestmark = pytest.mark.django_db
MINUTE = datetime.timedelta(minutes=1)


def mail_server_down(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens
    settings.EMAIL_TIMEOUT = 2


def test_a_failed_turnover_email_is_shown_and_sent_once_the_server_is_back(
    crew, settings, django_capture_on_commit_callbacks
):
    mail_server_down(settings)
    with django_capture_on_commit_callbacks(execute=True):
        first, _second = same_day_pair(crew)
    turnover = Turnover.objects.get(after_stay=first)
    assert turnover.notified_at is None
    assert turnover.notify_error.startswith("Email not sent:")
    tries, failed_at = turnover.notify_attempts, turnover.notify_failed_at
    assert tries >= 1

    with time_machine.travel(failed_at + 30 * datetime.timedelta(seconds=1), tick=False):
        tasks.send_due()
    turnover.refresh_from_db()
    assert turnover.notify_attempts == tries  # backing off: not tried again yet
    with time_machine.travel(failed_at + 61 * MINUTE, tick=False):
        tasks.send_due()
    turnover.refresh_from_db()
    assert turnover.notify_attempts == tries + 1 and turnover.notified_at is None

    back_up = time_machine.travel(failed_at + 3 * 60 * MINUTE, tick=False)
    with smtp_server(settings) as inbox, back_up:
        tasks.send_due()
        tasks.send_due()  # told once
    # Rosa cleans after other stays too: this turnover's email, once, with its code.
    to_rosa = [m for m in inbox.messages if m["To"] == "rosa@example.com"]
    [sent] = [m for m in to_rosa if turnover.code in text_of(m)]
    assert "Front gate" in text_of(sent)
    turnover.refresh_from_db()
    assert turnover.notified_at is not None and turnover.notify_error == ""


def test_a_turnover_with_no_staff_door_says_why_nobody_was_told(
    crew, django_capture_on_commit_callbacks
):
    crew.listing.assignments.update(staff_access=False)
    with django_capture_on_commit_callbacks(execute=True):
        first, _second = same_day_pair(crew)
    tasks.send_due()
    turnover = Turnover.objects.get(after_stay=first)
    assert turnover.notified_at is None
    assert turnover.notify_error == "No door of the listing has staff access: nothing to send yet."
