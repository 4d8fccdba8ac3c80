"""The crew's emails in the admin: the turnover page shows them like the stay page's guest
messages (sent, failing with its attempts, "Retry now", "Email the task now"); the
guest-message list and its export hold them beside the guests', each saying which it is,
and only the person's organization's."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from guests.models import GuestMessage
from guests.resources import GuestMessageResource
from reservations.models import Turnover
from tests.core.test_records_export import export, rows
from tests.fixtures_lifecycle import same_day_pair
from tests.guests.test_crew_email_retry import mail_server_down
from tests.smtp import smtp_server

pytestmark = pytest.mark.django_db
State = GuestMessage.State
MESSAGES = "/admin/guests/guestmessage/"


def test_the_turnover_page_shows_a_failing_email_and_sends_it_again(
    crew, manager_client, settings, django_capture_on_commit_callbacks
):
    mail_server_down(settings)
    with django_capture_on_commit_callbacks(execute=True):
        first, _second = same_day_pair(crew)
    turnover = Turnover.objects.get(after_stay=first)
    page_url = reverse("admin:reservations_turnover_change", args=[turnover.pk])
    page = manager_client.get(page_url).content.decode()
    box = page.split('id="panel-crew-messages"', 1)[1].split("</fieldset>", 1)[0]
    assert "Messages to the crew" in page
    assert "crew task email failed (attempt 1)" in box and "next try" in box
    # Raised as failed after its tries: "Retry now" on the page sends it.
    GuestMessage.objects.filter(turnover=turnover).update(state=State.FAILED, attempts=5)
    box = manager_client.get(page_url).content.decode().split('id="panel-crew-messages"')[1]
    assert "failed after 5 attempts" in box
    retry = re.search(r'formaction="([^"]+/retry/)"', box).group(1)
    with smtp_server(settings) as inbox, django_capture_on_commit_callbacks(execute=True):
        assert manager_client.post(retry).url == page_url
    assert [m["To"] for m in inbox.messages] == ["rosa@example.com"]
    assert GuestMessage.objects.get(turnover=turnover).state == State.SENT
    # And staff may email the task again.
    email = re.search(r'formaction="([^"]+/email/)"', box).group(1)
    with smtp_server(settings) as inbox:
        assert manager_client.post(email).url == page_url
    assert len(inbox.messages) == 1
    sent = GuestMessage.objects.filter(turnover=turnover, state=State.SENT)
    assert sent.count() == 2 and sent.filter(trigger=GuestMessage.Trigger.STAFF).exists()


def test_the_message_list_and_export_hold_crew_messages_of_ones_organization(
    crew, manager_client, org_b, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first, _second = same_day_pair(crew)
    turnover = Turnover.objects.get(after_stay=first)
    GuestMessage.objects.create(
        organization=org_b.organization,
        reservation=org_b.reservation,
        kind="code",
        trigger=GuestMessage.Trigger.STAFF,
        state=State.SENT,
        sent_at=timezone.now(),
        recipient="bravo-guest@example.com",
    )
    crew_rows = GuestMessage.objects.filter(turnover__isnull=False).count()
    assert crew_rows >= 1
    page = manager_client.get(f"{MESSAGES}?to=crew").content.decode()
    assert "Cleaner Rosa" in page
    assert reverse("admin:reservations_turnover_change", args=[turnover.pk]) in page
    assert f"{crew_rows} guest messages" in page or f"{crew_rows} guest message" in page
    assert "bravo-guest" not in manager_client.get(MESSAGES).content.decode()
    found = rows(export(manager_client, MESSAGES, GuestMessageResource))
    assert {r["to"] for r in found} == {"turnover"}
    crew_found = [r for r in found if r["to"] == "turnover"]
    assert len(crew_found) == crew_rows
    assert crew_found[0]["guest"] == "Cleaner Rosa"
    assert crew_found[0]["message"] == "Crew task"
    assert all("bravo" not in r["recipient"] for r in found)
