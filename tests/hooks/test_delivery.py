"""Outgoing webhooks reach a real HTTP receiver on this machine: signed, retried with
backoff for a day, recorded, re-sendable; refused when the address turns private."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json

import pytest
import time_machine
from django.utils import timezone

from core import outbound
from hooks import services
from hooks.models import WebhookDelivery
from reservations import signals
from reservations.doors import guest_doors
from reservations.models import LockAccess, Reservation

pytestmark = pytest.mark.django_db

State = WebhookDelivery.State
MINUTE = datetime.timedelta(minutes=1)


def signed_by(secret: str, received) -> bool:
    """The receiver's check, written here from the README rather than imported."""
    fields = [part.split("=", 1) for part in received.headers["Keystay-Signature"].split(",")]
    timestamp = next(value for name, value in fields if name == "t")
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + received.body, hashlib.sha256
    ).hexdigest()
    return any(hmac.compare_digest(expected, value) for name, value in fields if name == "v1")


def register(org, url, events=signals.EVENTS, **fields):
    return services.endpoint_create(
        organization=org.organization, url=url, events=list(events), **fields
    )


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a block as if its transaction committed (the test's own never does)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def announce(committed, event, reservation, lock_access_id=None):
    with committed():
        signals.announce(event, reservation_id=reservation.pk, lock_access_id=lock_access_id)


def test_a_confirmed_stay_reaches_the_receiver_signed_with_each_door_and_its_code(
    wired, receiver, local_receivers_allowed, committed
):
    endpoint, secret = register(wired.listing, f"{receiver.url}/keystay")
    with committed():
        reservation = wired.book(status=Reservation.Status.PENDING, external_id="BK-1")
    assert receiver.requests == []  # a pending stay has no code yet
    with committed():
        from reservations.services import reservation_confirm

        reservation_confirm(reservation=reservation)

    (received,) = receiver.requests
    assert received.method == "POST" and received.path == "/keystay"
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["Keystay-Event"] == "reservation.code_generated"
    assert signed_by(secret, received)
    body = json.loads(received.body)
    assert body["type"] == "reservation.code_generated"
    assert body["id"].startswith("evt_")
    assert body["organization"] == wired.listing.organization_id
    stay = body["data"]["reservation"]
    assert stay["id"] == reservation.pk
    assert stay["external_id"] == "BK-1"
    assert stay["guest_name"] == "Maria Silva"
    assert stay["listing"]["external_id"] == wired.listing.external_id
    assert stay["time_zone"] == wired.listing.property.time_zone
    check_in = datetime.datetime.fromisoformat(stay["check_in"])
    assert check_in == reservation.check_in
    reservation.refresh_from_db()
    expected = {door.name: door.code for door in guest_doors(reservation)}
    assert {door["name"]: door["code"] for door in body["data"]["doors"]} == expected
    assert len(expected) == 2 and all(expected.values())

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.state == State.DELIVERED
    assert delivery.attempts == 1
    assert delivery.last_status_code == 200
    assert delivery.last_response == "ok"
    assert received.headers["Keystay-Delivery"] == str(delivery.pk)
    # The body is kept encrypted: no door code in the row as stored.
    assert all(code not in delivery.payload_ciphertext for code in expected.values())


def test_a_500_is_retried_a_minute_later_and_then_delivered(
    org_a, receiver, local_receivers_allowed, committed
):
    endpoint, secret = register(org_a, receiver.url, [signals.CODE_REVOKED])
    receiver.answer(500, b"database down")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        announce(committed, signals.CODE_REVOKED, org_a.reservation)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.state == State.PENDING
    assert delivery.attempts == 1
    assert delivery.last_status_code == 500
    assert delivery.last_response == "database down"
    assert "500" in delivery.last_error
    assert delivery.next_attempt_at == start + MINUTE

    with time_machine.travel(start + 30 * datetime.timedelta(seconds=1), tick=False):
        assert services.deliver_due() == 0  # not due yet
    with time_machine.travel(start + MINUTE, tick=False):
        assert services.deliver_due() == 1
    delivery.refresh_from_db()
    assert delivery.state == State.DELIVERED
    assert delivery.attempts == 2
    assert delivery.last_status_code == 200
    assert delivery.last_error == ""
    first, second = receiver.requests
    assert first.body == second.body  # the same event, the same id
    assert json.loads(second.body)["type"] == "reservation.code_revoked"
    assert signed_by(secret, second)
    assert second.headers["Keystay-Attempt"] == "2"


def test_failures_are_retried_with_backoff_for_a_day_then_the_delivery_fails(
    org_a, receiver, local_receivers_allowed, committed
):
    register(org_a, receiver.url, [signals.ARRIVED])
    for _ in range(20):
        receiver.answer(503, b"busy")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        announce(committed, signals.ARRIVED, org_a.reservation)
    delivery = WebhookDelivery.objects.get()
    due = []
    while delivery.state == State.PENDING:
        due.append(delivery.next_attempt_at - start)
        with time_machine.travel(delivery.next_attempt_at, tick=False):
            services.deliver_due()
        delivery.refresh_from_db()
    minutes = [int(d.total_seconds() // 60) for d in due]
    # 1 min, then 5, 30 min, 2 h, 6 h, 12 h after the one before, and a last try at 24 h.
    assert minutes == [1, 6, 36, 156, 516, 1236, 1440]
    assert delivery.state == State.FAILED
    assert delivery.attempts == 8 == len(receiver.requests)
    assert delivery.next_attempt_at is None
    assert delivery.last_status_code == 503


def test_a_network_error_is_recorded_and_retried(org_a, local_receivers_allowed, committed):
    closed = outbound.socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    register(org_a, f"http://127.0.0.1:{port}/", [signals.ARRIVED])
    announce(committed, signals.ARRIVED, org_a.reservation)
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == State.PENDING
    assert delivery.last_status_code is None
    assert "could not be reached" in delivery.last_error
    assert delivery.next_attempt_at is not None


def test_a_redirect_is_recorded_as_a_failed_attempt_and_not_followed(
    org_a, receiver, local_receivers_allowed, committed
):
    register(org_a, f"{receiver.url}/hook", [signals.ARRIVED])
    receiver.answer(302, b"", {"Location": f"{receiver.url}/moved"})
    announce(committed, signals.ARRIVED, org_a.reservation)
    assert [r.path for r in receiver.requests] == ["/hook"]
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == State.PENDING  # retried, maybe the receiver is fixed by then
    assert delivery.last_status_code == 302
    assert "redirects are not followed" in delivery.last_error
    assert f"{receiver.url}/moved" in delivery.last_error


def test_a_host_whose_dns_turns_to_loopback_is_refused_at_delivery_and_recorded(
    org_a, receiver, settings, committed
):
    settings.KEYSTAY_OUTBOUND_ALLOW_HTTP = True  # but private addresses stay refused
    url = f"http://pms.example.test:{receiver.port}/hook"
    with outbound.resolver_override({"pms.example.test": ["93.184.215.14"]}):
        register(org_a, url, [signals.ARRIVED])
    # The name now points at this machine (at the receiver's port, so that a request the
    # guard let through would be seen).
    with outbound.resolver_override({"pms.example.test": ["127.0.0.1"]}):
        announce(committed, signals.ARRIVED, org_a.reservation)
    assert receiver.requests == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == State.FAILED
    assert delivery.next_attempt_at is None
    assert delivery.last_error == (
        "Not sent: Keystay does not send requests to pms.example.test: it resolves to a "
        "loopback address."
    )


def test_only_active_endpoints_of_the_stays_organization_that_chose_the_event_hear_it(
    org_a, org_b, receiver, local_receivers_allowed, committed
):
    chosen, _ = register(org_a, f"{receiver.url}/chosen", [signals.CODE_REVOKED])
    register(org_a, f"{receiver.url}/other-event", [signals.ARRIVED])
    register(org_a, f"{receiver.url}/off", [signals.CODE_REVOKED], active=False)
    register(org_b, f"{receiver.url}/other-org", [signals.CODE_REVOKED])
    announce(committed, signals.CODE_REVOKED, org_a.reservation)
    assert [r.path for r in receiver.requests] == ["/chosen"]
    assert list(WebhookDelivery.objects.values_list("endpoint", flat=True)) == [chosen.pk]


def test_an_endpoint_switched_off_gets_nothing_more_even_what_was_owed(
    org_a, receiver, local_receivers_allowed, committed
):
    endpoint, _ = register(org_a, receiver.url, [signals.ARRIVED])
    receiver.answer(500)
    announce(committed, signals.ARRIVED, org_a.reservation)
    services.endpoint_update(endpoint=endpoint, active=False)
    with time_machine.travel(timezone.now() + MINUTE):
        services.deliver_due()
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == State.FAILED
    assert "switched off" in delivery.last_error
    assert len(receiver.requests) == 1


def test_an_endpoint_without_codes_gets_the_doors_without_their_codes(
    wired, receiver, local_receivers_allowed, committed
):
    register(wired.listing, receiver.url, [signals.CODE_CHANGED], include_codes=False)
    reservation = wired.book()
    with committed():
        from reservations.services import code_rotate

        code_rotate(reservation=reservation)
    (received,) = receiver.requests
    doors = json.loads(received.body)["data"]["doors"]
    assert len(doors) == 2
    assert all(door["code"] is None for door in doors)


def test_a_lock_event_names_its_door_and_state_without_a_code(
    wired, receiver, local_receivers_allowed, committed
):
    register(wired.listing, receiver.url, [signals.LOCK_FAILED])
    reservation = wired.book()
    access = LockAccess.objects.get(reservation=reservation, device=wired.side)
    LockAccess.objects.filter(pk=access.pk).update(
        state=LockAccess.State.FAILED, last_error="The lock refused the code."
    )
    announce(committed, signals.LOCK_FAILED, reservation, lock_access_id=access.pk)
    data = json.loads(receiver.requests[0].body)["data"]
    assert data["lock_access"] == {
        "id": access.pk,
        "door": "Side Door",
        "state": "failed",
        "confirmed_at": None,
        "error": "The lock refused the code.",
    }
    assert "doors" not in data


def test_a_resend_sends_the_same_event_again_and_is_recorded(
    org_a, receiver, local_receivers_allowed, committed
):
    register(org_a, receiver.url, [signals.ARRIVED])
    announce(committed, signals.ARRIVED, org_a.reservation)
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == State.DELIVERED
    with committed():
        services.delivery_resend(delivery=delivery)
    delivery.refresh_from_db()
    assert delivery.state == State.DELIVERED
    assert delivery.attempts == 2
    assert delivery.resent_at is not None
    first, second = receiver.requests
    assert json.loads(first.body)["id"] == json.loads(second.body)["id"]


def test_two_workers_never_make_the_same_attempt(org_a, receiver, local_receivers_allowed):
    register(org_a, receiver.url, [signals.ARRIVED])
    (delivery_id,) = services.deliveries_record(
        event=signals.ARRIVED, reservation_id=org_a.reservation.pk
    )
    now = timezone.now()
    assert services._claim(delivery_id, now) == 1
    assert services._claim(delivery_id, now) is None  # the second worker finds it taken
    assert services.delivery_attempt(delivery_id, now=now) == "not due"
    assert receiver.requests == []
    # The first worker's lease runs out (it died mid-request): the row is due again.
    later = now + services.LEASE
    assert services.delivery_attempt(delivery_id, now=later) == "delivered"
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get().attempts == 2


def test_after_a_rotation_both_secrets_sign_for_a_day(
    org_a, receiver, local_receivers_allowed, committed
):
    endpoint, old = register(org_a, receiver.url, [signals.ARRIVED])
    new = services.endpoint_rotate_secret(endpoint=endpoint)
    assert new != old and new.startswith("whsec_")
    endpoint.refresh_from_db()
    assert endpoint.secret_hint == new[-4:]
    announce(committed, signals.ARRIVED, org_a.reservation)
    assert signed_by(new, receiver.requests[0]) and signed_by(old, receiver.requests[0])
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=25), tick=False):
        announce(committed, signals.ARRIVED, org_a.reservation)
    assert signed_by(new, receiver.requests[1])
    assert not signed_by(old, receiver.requests[1])
