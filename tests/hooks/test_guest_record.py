"""A webhook that hands the guest's door codes to a PMS is a delivery to the guest: the
reservation's "Guest messages" show it (sent by webhook, or failed for good) and a
delivered one marks the code sent. A delivery without codes told the guest nothing and
leaves no trace there; a webhook row never makes Keystay email a change itself."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from core import outbound
from guests import services as guest_services
from guests.models import GuestMessage
from hooks import services
from hooks.models import WebhookDelivery
from reservations import signals
from reservations.models import LockAccess, Reservation, ReservationCode
from reservations.services import code_rotate, reservation_cancel

pytestmark = pytest.mark.django_db

State = GuestMessage.State
Channel = GuestMessage.Channel
MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a block as if its transaction committed (the test's own never does)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def register(wired, url, events, **fields):
    endpoint, _ = services.endpoint_create(
        organization=wired.listing.organization, url=url, events=list(events), **fields
    )
    return endpoint


def book(wired, committed) -> Reservation:
    with committed():
        reservation = wired.book(guest_email="maria@example.com")
    return Reservation.objects.get(pk=reservation.pk)


def sent_at(reservation):
    return ReservationCode.objects.get(reservation=reservation).sent_at


def panel_of(client, user, reservation) -> str:
    client.force_login(user)
    response = client.get(reverse("admin:reservations_reservation_change", args=[reservation.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    start = page.index('<div class="guest-messages">')
    return page[start : page.index("</div>", page.index('id="guest-actions"', start))]


def told_line(panel: str) -> str:
    start = panel.index('id="sent-to-guest"')
    return " ".join(panel[start : panel.index("</p>", start)].split())


def test_codes_delivered_to_a_pms_are_recorded_as_sent_by_webhook(
    wired, receiver, local_receivers_allowed, committed, client
):
    # The token in the query string is the receiver's business: not shown on the stay.
    register(wired, f"{receiver.url}/hook?token=s3cret", [signals.CODE_GENERATED])
    reservation = book(wired, committed)

    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.DELIVERED
    row = GuestMessage.objects.get(reservation=reservation)
    assert (row.channel, row.trigger, row.kind, row.state) == (
        Channel.WEBHOOK,
        GuestMessage.Trigger.EVENT,
        "code",
        State.SENT,
    )
    assert row.recipient == f"{receiver.url}/hook"
    assert row.note == signals.CODE_GENERATED
    assert row.facts_ciphertext == ""  # what the PMS tells is its own business
    assert sent_at(reservation) == row.sent_at is not None

    organization = wired.listing.organization
    for role in ("manager", "staff"):
        user = organization.memberships.get(role=role).user
        panel = panel_of(client, user, reservation)
        told = told_line(panel)
        assert f"sent by webhook to {receiver.url}/hook (reservation.code_generated)" in told
        assert "by hand" not in told
        assert "s3cret" not in panel
        assert "Retry now" not in panel


def test_an_endpoint_without_codes_or_a_lock_event_tells_the_guest_nothing(
    wired, receiver, local_receivers_allowed, committed
):
    """A PMS that got the doors without their codes, or a lock's state, could not have
    given the guest a code: the stay's code stays unsent and no guest message is written."""
    register(wired, f"{receiver.url}/no-codes", [signals.CODE_GENERATED], include_codes=False)
    register(wired, f"{receiver.url}/locks", [signals.LOCK_FAILED])
    reservation = book(wired, committed)
    access = LockAccess.objects.filter(reservation=reservation).first()
    with committed():
        signals.announce(
            signals.LOCK_FAILED, reservation_id=reservation.pk, lock_access_id=access.pk
        )
    assert sorted(r.path for r in receiver.requests) == ["/locks", "/no-codes"]
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"delivered"}
    assert not GuestMessage.objects.filter(reservation=reservation).exists()
    assert sent_at(reservation) is None


def test_a_delivery_that_fails_for_good_shows_on_the_stay_and_a_resend_that_works_too(
    wired, receiver, local_receivers_allowed, committed, client
):
    register(wired, f"{receiver.url}/hook", [signals.CODE_GENERATED])
    for _ in range(8):
        receiver.answer(500, b"down")
    reservation = book(wired, committed)
    delivery = WebhookDelivery.objects.get()
    while delivery.state == WebhookDelivery.State.PENDING:
        assert not GuestMessage.objects.exists()  # a retry still to come is no outcome
        with time_machine.travel(delivery.next_attempt_at, tick=False):
            services.deliver_due()
        delivery.refresh_from_db()
    assert delivery.state == WebhookDelivery.State.FAILED

    failed = GuestMessage.objects.get(reservation=reservation)
    assert (failed.channel, failed.state, failed.attempts) == (Channel.WEBHOOK, State.FAILED, 8)
    assert failed.last_error == "The receiver answered 500."
    assert sent_at(reservation) is None
    panel = panel_of(
        client, wired.listing.organization.memberships.get(role="staff").user, reservation
    )
    assert "<strong>Sent to guest:</strong>\n    not yet" in panel
    assert (
        f"door codes webhook to {receiver.url}/hook (reservation.code_generated) "
        "failed after 8 attempts: The receiver answered 500."
    ) in panel
    details = reverse("admin:hooks_webhookdelivery_change", args=[delivery.pk])
    assert f'href="{details}"' in panel
    assert "Retry now" not in panel  # a webhook is resent from its delivery's page

    with committed():
        services.delivery_resend(delivery=delivery)
    sent = GuestMessage.objects.filter(reservation=reservation).exclude(pk=failed.pk).get()
    assert (sent.channel, sent.state, sent.attempts) == (Channel.WEBHOOK, State.SENT, 9)
    assert sent_at(reservation) == sent.sent_at
    panel = panel_of(
        client, wired.listing.organization.memberships.get(role="manager").user, reservation
    )
    assert f"sent by webhook to {receiver.url}/hook" in told_line(panel)


def test_a_delivery_refused_by_the_outbound_guard_shows_as_failed(
    wired, receiver, settings, committed
):
    settings.KEYSTAY_OUTBOUND_ALLOW_HTTP = True  # but private addresses stay refused
    url = f"http://pms.example.test:{receiver.port}/hook"
    with outbound.resolver_override({"pms.example.test": ["93.184.215.14"]}):
        register(wired, url, [signals.CODE_GENERATED])
    with outbound.resolver_override({"pms.example.test": ["127.0.0.1"]}):
        reservation = book(wired, committed)
    assert receiver.requests == []
    row = GuestMessage.objects.get(reservation=reservation)
    assert (row.channel, row.state, row.attempts) == (Channel.WEBHOOK, State.FAILED, 1)
    assert row.last_error.startswith("Not sent: Keystay does not send requests to pms.example")
    assert sent_at(reservation) is None


def test_a_change_told_by_webhook_plans_no_change_email_from_keystay(
    wired, receiver, local_receivers_allowed, committed
):
    register(wired, f"{receiver.url}/hook", [signals.CODE_GENERATED, signals.CODE_CHANGED])
    reservation = book(wired, committed)
    with committed():
        code_rotate(reservation=reservation)
    rows = GuestMessage.objects.filter(reservation=reservation)
    assert sorted(rows.values_list("kind", "channel", "state")) == [
        ("changed", "webhook", "sent"),
        ("code", "webhook", "sent"),
    ]
    assert guest_services.last_told(reservation) is None
    assert guest_services.message_changed_check(reservation=reservation) is None
    assert not rows.exclude(channel=Channel.WEBHOOK).exists()


def test_a_stay_cancelled_before_the_delivery_went_through_still_records_it(
    wired, receiver, local_receivers_allowed, committed
):
    register(wired, f"{receiver.url}/hook", [signals.CODE_GENERATED])
    receiver.answer(503)
    reservation = book(wired, committed)
    with committed():
        reservation_cancel(reservation=reservation)
    delivery = WebhookDelivery.objects.get()
    with time_machine.travel(delivery.next_attempt_at, tick=False):
        assert services.deliver_due() == 1
    row = GuestMessage.objects.get(reservation=reservation, channel=Channel.WEBHOOK)
    assert row.state == State.SENT
    assert sent_at(reservation) is None  # a cancelled stay's code is not marked sent


def test_an_attempt_taken_over_by_another_worker_records_nothing_when_it_comes_back(
    wired, receiver, local_receivers_allowed
):
    register(wired, f"{receiver.url}/hook", [signals.CODE_GENERATED])
    reservation = wired.book()  # not committed: the test owes the event itself
    (delivery_id,) = services.deliveries_record(
        event=signals.CODE_GENERATED, reservation_id=reservation.pk
    )
    now = timezone.now()
    assert services._claim(delivery_id, now) == 1  # worker A takes attempt 1, then stalls
    receiver.answer(500)
    # A's lease runs out: worker B makes attempt 2, which fails and will be retried.
    assert services.delivery_attempt(delivery_id, now=now + services.LEASE).startswith("retry")
    # A comes back: the receiver took its attempt after all, but the row is B's now.
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    late = {"last_status_code": 200, "last_response": "ok", "last_error": ""}
    assert services._record(delivery, 1, late, final_failure=False) == "superseded"
    assert not GuestMessage.objects.exists()
    with time_machine.travel(delivery.next_attempt_at, tick=False):
        assert services.deliver_due() == 1
    row = GuestMessage.objects.get()
    assert (row.state, row.attempts, row.reservation_id) == (State.SENT, 3, reservation.pk)


@pytest.mark.parametrize("role", ["manager", "staff"])
def test_the_guest_message_pages_show_a_webhook_row(
    wired, receiver, local_receivers_allowed, committed, client, role
):
    register(wired, f"{receiver.url}/hook", [signals.CODE_GENERATED])
    reservation = book(wired, committed)
    row = GuestMessage.objects.get(reservation=reservation)
    client.force_login(wired.listing.organization.memberships.get(role=role).user)
    listed = client.get(reverse("admin:guests_guestmessage_changelist"))
    assert listed.status_code == 200
    assert f"sent by webhook to {receiver.url}/hook" in listed.content.decode()
    page = client.get(reverse("admin:guests_guestmessage_change", args=[row.pk]))
    assert page.status_code == 200
    assert "Sent to a PMS by webhook" in page.content.decode()
    delivery = WebhookDelivery.objects.get()
    page = client.get(reverse("admin:hooks_webhookdelivery_change", args=[delivery.pk]))
    assert page.status_code == 200
