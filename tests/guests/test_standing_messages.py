"""A standing access's email is a guest message of the standing access: one the mail
server cannot take is retried by the periodic sweep with the guests' backoff until it
goes; a change after the crew member was told is told once, as a change note; an
offboarded person is told nothing more. Checked with a real SMTP server and Seam's fake
behind the standing code's doors."""

import datetime
import re

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from guests import tasks
from guests.models import GuestMessage
from guests.resources import GuestMessageResource
from reservations.models import StandingAccess, Turnover
from reservations.standing import crew_offboard, standing_save
from tests.core.test_records_export import export, rows
from tests.fixtures_lifecycle import same_day_pair
from tests.guests.test_crew_email_retry import mail_server_down
from tests.smtp import smtp_server, text_of

pytestmark = pytest.mark.django_db
MINUTE = datetime.timedelta(minutes=1)
State = GuestMessage.State
Trigger = GuestMessage.Trigger
MESSAGES = "/admin/guests/guestmessage/"


def hours(crew, opens=8, closes=17):
    return [
        {
            "property": crew.listing.property,
            "opens": datetime.time(opens),
            "closes": datetime.time(closes),
        }
    ]


def give_standing(crew, capture, **fields):
    standing = StandingAccess(
        organization=crew.listing.organization,
        crew_member=crew.rosa,
        listing=crew.listing,
        starts_at=timezone.now() - datetime.timedelta(hours=1),
        **fields,
    )
    with capture(execute=True):
        standing_save(standing=standing, hours=hours(crew))
    standing.refresh_from_db()
    return standing


def notices(standing):
    return GuestMessage.objects.filter(standing=standing).order_by("pk")


def test_a_standing_notice_survives_a_mail_server_that_is_down(
    crew, settings, django_capture_on_commit_callbacks
):
    mail_server_down(settings)
    standing = give_standing(crew, django_capture_on_commit_callbacks)
    [message] = notices(standing)
    assert message.kind == GuestMessage.CREW_STANDING and message.trigger == Trigger.STANDING
    assert message.reservation_id is None and message.turnover_id is None
    assert message.state == State.RETRYING and message.attempts == 1
    assert message.recipient == "rosa@example.com" and message.last_error
    with time_machine.travel(message.due_at - MINUTE, tick=False):
        tasks.send_due()
    message.refresh_from_db()
    assert message.attempts == 1  # backing off: not tried again yet
    with time_machine.travel(message.due_at + MINUTE, tick=False):
        tasks.send_due()
    message.refresh_from_db()
    assert message.state == State.RETRYING and message.attempts == 2

    with smtp_server(settings) as inbox, time_machine.travel(message.due_at + MINUTE, tick=False):
        tasks.send_due()
        tasks.send_due()  # told once
    [sent] = inbox.messages
    assert sent["To"] == "rosa@example.com" and sent["Subject"] == "Your door code"
    body = text_of(sent)
    assert f"Your door code is {standing.code}, from " in body and "until further notice" in body
    assert f"- Front gate: {standing.code}" in body and "Fake August Lock 2" in body
    assert "08:00–17:00" in body
    message.refresh_from_db()
    assert message.state == State.SENT and notices(standing).count() == 1


def test_a_change_after_the_first_notice_is_told_once_as_a_change_note(
    crew, settings, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    with smtp_server(settings) as inbox:
        standing = give_standing(crew, capture)
        assert len(inbox.messages) == 1
        # Two edits within the settling time: new working hours, then an end date.
        with capture(execute=True):
            standing_save(standing=standing, hours=hours(crew, 7, 15))
        ends = timezone.now() + datetime.timedelta(days=30)
        with capture(execute=True):
            standing.ends_at = ends
            standing_save(standing=standing)
        [change] = notices(standing).filter(trigger=Trigger.CHANGE)
        assert change.state == State.PLANNED and len(inbox.messages) == 1
        with time_machine.travel(change.due_at + MINUTE, tick=False):
            tasks.send_due()
            tasks.send_due()
        assert len(inbox.messages) == 2
        note = inbox.messages[1]
        assert note["Subject"] == "Your door code has changed"
        body = text_of(note)
        assert "- Your code now works from " in body and "- Your working hours changed." in body
        assert "07:00–15:00" in body and "until further notice" not in body
        change.refresh_from_db()
        assert change.state == State.SENT
        # A change undone before its note went out is never told.
        with capture(execute=True):
            standing_save(standing=standing, hours=hours(crew, 9, 18))
        with capture(execute=True):
            standing_save(standing=standing, hours=hours(crew, 7, 15))
        with time_machine.travel(timezone.now() + 11 * MINUTE, tick=False):
            tasks.send_due()
        assert len(inbox.messages) == 2
        assert notices(standing).filter(trigger=Trigger.CHANGE, state=State.SENT).count() == 1


def test_an_offboarded_person_is_told_nothing_more(
    crew, settings, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    with smtp_server(settings) as inbox:
        standing = give_standing(crew, capture)
        with capture(execute=True):
            standing_save(standing=standing, doors=[crew.side])  # a change note waits
        [change] = notices(standing).filter(trigger=Trigger.CHANGE)
        with capture(execute=True):
            crew_offboard(crew_member=crew.rosa, by="Manager")
        change.refresh_from_db()
        assert change.state == State.CANCELLED
        assert change.note == "The crew member was offboarded: nothing is sent."
        with time_machine.travel(timezone.now() + datetime.timedelta(hours=5), tick=False):
            tasks.send_due()
        assert len(inbox.messages) == 1  # the first notice only
    # A notice still being retried when the person leaves is dropped too.
    other = crew.rosa.__class__.objects.create(
        organization=crew.listing.organization, name="Ana", email="ana@example.com"
    )
    mail_server_down(settings)
    standing = StandingAccess(
        organization=crew.listing.organization,
        crew_member=other,
        listing=crew.listing,
        starts_at=timezone.now() - datetime.timedelta(hours=1),
    )
    with capture(execute=True):
        standing_save(standing=standing)
    [retrying] = notices(standing)
    assert retrying.state == State.RETRYING
    with capture(execute=True):
        crew_offboard(crew_member=other, by="Manager")
    retrying.refresh_from_db()
    assert retrying.state == State.CANCELLED
    with smtp_server(settings) as inbox, time_machine.travel(retrying.last_error_at + 6 * MINUTE):
        tasks.send_due()
    assert inbox.messages == []


def test_the_standing_notice_is_in_the_crew_members_language(
    crew, settings, django_capture_on_commit_callbacks
):
    crew.rosa.language = "pt"
    crew.rosa.save(update_fields=["language"])
    with smtp_server(settings) as inbox:
        standing = give_standing(crew, django_capture_on_commit_callbacks)
    [sent] = inbox.messages
    assert sent["Subject"] == "O seu código de porta"
    body = text_of(sent)
    assert body.startswith("Olá Rosa,")
    assert f"O seu código de porta é {standing.code}, a partir de " in body
    assert "Horário de trabalho" in body and "Portas:" in body


def test_a_message_belongs_to_exactly_one_stay_turnover_or_standing_access(
    crew, django_capture_on_commit_callbacks
):
    first, _second = same_day_pair(crew)
    turnover = Turnover.objects.get(after_stay=first)
    standing = give_standing(crew, django_capture_on_commit_callbacks)
    common = {
        "organization_id": turnover.organization_id,
        "kind": GuestMessage.CREW_STANDING,
        "trigger": Trigger.STAFF,
        "state": State.SENT,
    }
    for holders in (
        {"standing": standing, "turnover": turnover},
        {"standing": standing, "reservation": first},
        {"standing": standing, "turnover": turnover, "reservation": first},
        {},
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            GuestMessage.objects.create(**common, **holders)
    assert GuestMessage.objects.create(**common, standing=standing).standing_id == standing.pk


@pytest.mark.parametrize("who", ["manager", "staff"])
def test_the_standing_access_page_shows_its_messages_with_retry_and_email_now(
    crew, client, org_a, settings, django_capture_on_commit_callbacks, who
):
    mail_server_down(settings)
    standing = give_standing(crew, django_capture_on_commit_callbacks)
    client.force_login(getattr(org_a, who))
    page_url = reverse("admin:reservations_standingaccess_change", args=[standing.pk])
    page = client.get(page_url).content.decode()
    box = page.split('id="panel-standing-messages"', 1)[1].split("</fieldset>", 1)[0]
    assert "Messages to the crew member" in page
    assert "standing code email failed (attempt 1)" in box and "next try" in box
    # Raised as failed after its tries: "Retry now" on the page sends it.
    notices(standing).update(state=State.FAILED, attempts=5)
    box = client.get(page_url).content.decode().split('id="panel-standing-messages"')[1]
    assert "failed after 5 attempts" in box
    retry = re.search(r'formaction="([^"]+/retry/)"', box).group(1)
    with smtp_server(settings) as inbox, django_capture_on_commit_callbacks(execute=True):
        assert client.post(retry).url == page_url
    assert [m["To"] for m in inbox.messages] == ["rosa@example.com"]
    assert notices(standing).get().state == State.SENT
    # And the code may be emailed again.
    email = re.search(r'formaction="([^"]+/email/)"', box).group(1)
    with smtp_server(settings) as inbox:
        assert client.post(email).url == page_url
    assert len(inbox.messages) == 1 and standing.code in text_of(inbox.messages[0])
    assert notices(standing).filter(state=State.SENT, trigger=Trigger.STAFF).count() == 1
    box = client.get(page_url).content.decode().split('id="panel-standing-messages"')[1]
    assert f"emailed to rosa@example.com (by {getattr(org_a, who).username})" in box


def test_the_message_list_and_export_say_standing_access_for_ones_organization(
    crew, manager_client, org_b, settings, django_capture_on_commit_callbacks
):
    with smtp_server(settings):
        standing = give_standing(crew, django_capture_on_commit_callbacks)
    page = manager_client.get(f"{MESSAGES}?to=standing").content.decode()
    assert "Cleaner Rosa" in page and "standing access" in page
    assert reverse("admin:reservations_standingaccess_change", args=[standing.pk]) in page
    bravo = StandingAccess(
        organization=org_b.organization,
        crew_member=org_b.organization.crew_members.create(
            name="Bravo cleaner", email="bravo-crew@example.com"
        ),
        starts_at=timezone.now(),
    )
    bravo.save()
    GuestMessage.objects.create(
        organization=org_b.organization,
        standing=bravo,
        kind=GuestMessage.CREW_STANDING,
        trigger=Trigger.STAFF,
        state=State.SENT,
        sent_at=timezone.now(),
        recipient="bravo-crew@example.com",
    )
    assert "bravo-crew" not in manager_client.get(MESSAGES).content.decode()
    found = rows(export(manager_client, MESSAGES, GuestMessageResource, query="?to=standing"))
    assert [r["to"] for r in found] == ["standing access"]
    assert found[0]["guest"] == "Cleaner Rosa" and found[0]["listing"] == crew.listing.name
    assert found[0]["message"] == "Standing code" and found[0]["state"] == "Sent"
