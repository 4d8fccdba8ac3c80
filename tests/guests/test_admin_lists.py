"""The guest message and template lists cost the same number of queries with 5 rows and
with 200 (crew messages of turnovers among them), and show only the person's
organizations."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from guests.models import GuestMessage, MessageTemplate
from properties.models import CrewMember
from reservations.models import Turnover
from tests.factories import ListingFactory, ReservationFactory

pytestmark = pytest.mark.django_db

State = GuestMessage.State


def grow(org, rows: int) -> None:
    states = [State.SENT, State.FAILED, State.PLANNED, State.RETRYING, State.SKIPPED]
    for n in range(rows):
        listing = ListingFactory(property=org.property)
        reservation = ReservationFactory(listing=listing)
        MessageTemplate.objects.create(
            organization=org.organization,
            listing=listing,
            subject="Codes for {listing}",
            body="{doors}",
            send_hours_before=n % 3 * 24 or None,
        )
        state = states[n % len(states)]
        channel = GuestMessage.Channel.EMAIL if n % 2 else GuestMessage.Channel.COPY_TEXT
        trigger = GuestMessage.Trigger.STAFF
        if state in (State.SENT, State.FAILED) and n % 10 >= 5:  # 5, 6, 15, 16...
            channel, trigger = GuestMessage.Channel.WEBHOOK, GuestMessage.Trigger.EVENT
        holder = {"reservation": reservation, "kind": "code"}
        if n % 4 == 3 and channel != GuestMessage.Channel.WEBHOOK:
            # The crew's email of the turnover after this stay.
            holder = {"turnover": turnover_after(org, reservation), "kind": "crew_task"}
        GuestMessage.objects.create(
            organization=org.organization,
            **holder,
            channel=channel,
            trigger=trigger,
            state=state,
            recipient="guest@example.com",
            sent_at=timezone.now() if state == State.SENT else None,
            sent_by=org.staff if n % 2 else None,
            due_at=timezone.now(),
            attempts=n % 5,
            last_error="SMTP 451" if state in (State.FAILED, State.RETRYING) else "",
            note="reservation.code_generated" if trigger == GuestMessage.Trigger.EVENT else "",
        )


def turnover_after(org, reservation) -> Turnover:
    return Turnover.objects.create(
        organization=org.organization,
        listing=reservation.listing,
        after_stay=reservation,
        starts_at=reservation.check_out,
        ends_at=reservation.check_out + datetime.timedelta(hours=4),
        assignee=CrewMember.objects.create(organization=org.organization, name="Rosa"),
    )


def count_queries(client, url) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries), shown(response)


def shown(response) -> int:
    return len(response.context["cl"].result_list)


@pytest.mark.parametrize("changelist", ["guests_guestmessage", "guests_messagetemplate"])
@pytest.mark.parametrize("role", ["manager", "staff"])
def test_the_lists_cost_the_same_queries_with_many_rows(
    client, org_a, org_b, changelist, role, django_assert_max_num_queries
):
    client.force_login(getattr(org_a, role))
    url = reverse(f"admin:{changelist}_changelist") + "?all="
    grow(org_a, 5)
    grow(org_b, 3)
    with_5, rows = count_queries(client, url)
    assert rows == 5  # not org_b's rows
    grow(org_a, 195)
    with django_assert_max_num_queries(with_5):
        response = client.get(url)
    assert shown(response) == 200


def test_the_failing_filter_lists_failing_emails(client, org_a):
    grow(org_a, 10)
    client.force_login(org_a.staff)
    page = client.get(reverse("admin:guests_guestmessage_changelist") + "?outcome=failing")
    assert shown(page) == 4


def test_staff_retry_failed_emails_from_the_list(client, org_a):
    grow(org_a, 2)  # one text copied, one email failed
    failed = GuestMessage.objects.get(state=State.FAILED)
    client.force_login(org_a.staff)
    url = reverse("admin:guests_guestmessage_changelist")
    response = client.post(
        url, {"action": "retry_selected", "_selected_action": [failed.pk]}, follow=True
    )
    assert "1 email being sent again." in response.content.decode()
    failed.refresh_from_db()
    assert failed.state == State.RETRYING and failed.attempts == 0
    assert failed.due_at <= timezone.now()  # the sweep (or the task enqueued) sends it


def test_the_list_says_which_deliveries_went_to_a_pms_by_webhook(client, org_a):
    grow(org_a, 10)
    client.force_login(org_a.staff)
    page = client.get(reverse("admin:guests_guestmessage_changelist")).content.decode()
    assert page.count("sent by webhook to guest@example.com (reservation.code_generated)") == 1
    assert "door codes webhook to guest@example.com (reservation.code_generated) failed" in page
    assert "Sent to a PMS by webhook" in page  # the channel's filter


def test_an_email_sent_first_time_shows_one_attempt_not_zero(manager_client, org_a):
    for channel in (GuestMessage.Channel.EMAIL, GuestMessage.Channel.COPY_TEXT):
        GuestMessage.objects.create(
            organization=org_a.organization,
            reservation=org_a.reservation,
            kind="code",
            channel=channel,
            trigger=GuestMessage.Trigger.STAFF,
            state=State.SENT,
            recipient="guest@example.com",
            sent_at=timezone.now(),
        )
    page = manager_client.get(reverse("admin:guests_guestmessage_changelist")).content.decode()
    cells = page.split('class="field-tries">')[1:]
    assert sorted(cell.split("<", 1)[0] for cell in cells) == ["1", "—"]
