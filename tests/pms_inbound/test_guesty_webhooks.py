"""Guesty's reservation webhooks (v2, Svix-signed) become stays; codes follow on Seam's fake."""

from __future__ import annotations

import datetime
import json

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from pms_inbound import services
from pms_inbound.models import PmsBooking, PmsDelivery
from reservations.models import LockAccess, Reservation
from tests.fixtures_lifecycle import run_at
from tests.hooks.receiver import Receiver

from . import payloads

pytestmark = pytest.mark.django_db
Status = PmsDelivery.Status
DAY = datetime.timedelta(days=1)
MINUTE = datetime.timedelta(minutes=1)


def seam_time(value):
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture
def stay(wired, guesty):
    """The listing known to Guesty by the documented example's listing id, and a stay
    four days ahead, 15:00 to 11:00 local (the listing's own times)."""
    wired.listing.external_id = payloads.GUESTY_LISTING_ID
    wired.listing.save(update_fields=["external_id"])
    today = timezone.localdate(timezone=wired.listing.property.zone)
    check_in = wired.listing.local_check_in(today + 4 * DAY)
    check_out = wired.listing.local_check_out(today + 7 * DAY)
    return check_in, check_out


def post(client, connection, payload, *, msg_id, secret=payloads.GUESTY_SECRET, capture):
    body, headers = payloads.guesty_signed(payload, msg_id=msg_id, secret=secret)
    with capture(execute=True):
        return client.post(
            reverse("pms_webhook", args=[connection.public_id]),
            data=body,
            content_type="application/json",
            headers=headers,
        )


def the_reservation() -> Reservation:
    return Reservation.objects.get(external_id=payloads.GUESTY_RESERVATION_ID)


def test_created_v2_makes_a_confirmed_stay_whose_code_goes_on_every_guest_lock(
    client, wired, guesty, stay, django_capture_on_commit_callbacks
):
    check_in, check_out = stay
    payload = payloads.guesty_reservation(
        check_in=check_in, check_out=check_out, published_at=timezone.now()
    )
    response = post(
        client, guesty, payload, msg_id="msg_created", capture=django_capture_on_commit_callbacks
    )
    assert response.status_code == 202
    reservation = the_reservation()
    assert reservation.listing == wired.listing
    assert (reservation.check_in, reservation.check_out) == (check_in, check_out)
    assert reservation.status == Reservation.Status.CONFIRMED
    assert reservation.source == "guesty"
    # Guesty's v2 payload has no contact details and this connection cannot fetch them.
    assert reservation.guest_email == "" and reservation.guest_phone == ""
    delivery = PmsDelivery.objects.get()
    assert delivery.status == Status.APPLIED and delivery.reservation == reservation
    assert "cannot be sent messages" in delivery.reason
    assert PmsBooking.objects.get().contact_missing
    starts, ends = reservation.window
    run_at(LockAccess.objects.get(reservation=reservation, device=wired.gate).program_at)
    for device in (wired.gate, wired.side):
        (on_lock,) = wired.codes_on(device)
        assert on_lock.code == reservation.code.value
        assert (on_lock.starts_at, on_lock.ends_at) == (seam_time(starts), seam_time(ends))


def test_updated_v2_moves_the_dates_and_the_code_window_follows(
    client, wired, guesty, stay, django_capture_on_commit_callbacks
):
    check_in, check_out = stay
    now = timezone.now()
    created = payloads.guesty_reservation(check_in=check_in, check_out=check_out, published_at=now)
    post(client, guesty, created, msg_id="msg_1", capture=django_capture_on_commit_callbacks)
    reservation = the_reservation()
    run_at(LockAccess.objects.get(reservation=reservation, device=wired.gate).program_at)
    code = reservation.code.value
    new_out = check_out + 2 * DAY
    updated = payloads.guesty_reservation(
        event="reservation.updated.v2",
        check_in=check_in,
        check_out=new_out,
        published_at=now + MINUTE,
    )
    response = post(
        client, guesty, updated, msg_id="msg_2", capture=django_capture_on_commit_callbacks
    )
    assert response.status_code == 202
    reservation.refresh_from_db()
    assert reservation.check_out == new_out
    run_at(timezone.now())
    for device in (wired.gate, wired.side):
        (on_lock,) = wired.codes_on(device)
        assert on_lock.code == code
        assert on_lock.ends_at == seam_time(reservation.window[1])
    assert [d.status for d in PmsDelivery.objects.order_by("pk")] == [Status.APPLIED] * 2


def test_a_canceled_reservation_loses_its_code_on_every_lock(
    client, wired, guesty, stay, django_capture_on_commit_callbacks
):
    check_in, check_out = stay
    now = timezone.now()
    created = payloads.guesty_reservation(check_in=check_in, check_out=check_out, published_at=now)
    post(client, guesty, created, msg_id="msg_1", capture=django_capture_on_commit_callbacks)
    reservation = the_reservation()
    run_at(LockAccess.objects.get(reservation=reservation, device=wired.gate).program_at)
    assert len(wired.codes_on(wired.gate)) == 1
    canceled = payloads.guesty_reservation(
        event="reservation.updated.v2",
        status="canceled",
        check_in=check_in,
        check_out=check_out,
        published_at=now + MINUTE,
    )
    post(client, guesty, canceled, msg_id="msg_2", capture=django_capture_on_commit_callbacks)
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CANCELLED
    assert wired.codes_on(wired.gate) == [] and wired.codes_on(wired.side) == []


def test_a_replayed_delivery_changes_nothing(
    client, wired, guesty, stay, django_capture_on_commit_callbacks
):
    check_in, check_out = stay
    payload = payloads.guesty_reservation(
        check_in=check_in, check_out=check_out, published_at=timezone.now()
    )
    post(client, guesty, payload, msg_id="msg_same", capture=django_capture_on_commit_callbacks)
    reservation = the_reservation()
    updated_at, code = reservation.updated_at, reservation.code.value
    again = post(
        client, guesty, payload, msg_id="msg_same", capture=django_capture_on_commit_callbacks
    )
    assert again.status_code == 200 and again.json() == {"status": "duplicate"}
    assert PmsDelivery.objects.count() == 1
    assert Reservation.objects.filter(external_id=payloads.GUESTY_RESERVATION_ID).count() == 1
    reservation.refresh_from_db()
    assert (reservation.updated_at, reservation.code.value) == (updated_at, code)
    # The same event delivered under a new Svix id is the same version: ignored too.
    post(client, guesty, payload, msg_id="msg_other", capture=django_capture_on_commit_callbacks)
    latest = PmsDelivery.objects.order_by("-pk").first()
    assert latest.status == Status.IGNORED and "Older than" in latest.reason


def test_an_older_update_arriving_after_a_newer_one_is_ignored(
    client, wired, guesty, stay, django_capture_on_commit_callbacks
):
    check_in, check_out = stay
    now = timezone.now()
    newer = payloads.guesty_reservation(
        event="reservation.updated.v2",
        check_in=check_in,
        check_out=check_out + DAY,
        published_at=now + 2 * MINUTE,
    )
    older = payloads.guesty_reservation(check_in=check_in, check_out=check_out, published_at=now)
    post(client, guesty, newer, msg_id="msg_new", capture=django_capture_on_commit_callbacks)
    post(client, guesty, older, msg_id="msg_old", capture=django_capture_on_commit_callbacks)
    assert the_reservation().check_out == check_out + DAY
    late = PmsDelivery.objects.get(delivery_key="svix:msg_old")
    assert late.status == Status.IGNORED and "Older than" in late.reason


def test_an_unknown_listing_is_recorded_raised_and_applies_once_the_listing_is_known(
    client, wired, guesty, stay, django_capture_on_commit_callbacks
):
    check_in, check_out = stay
    payload = payloads.guesty_reservation(
        check_in=check_in,
        check_out=check_out,
        published_at=timezone.now(),
        listing_id="5f0000000000000000000abc",
    )
    response = post(
        client, guesty, payload, msg_id="msg_x", capture=django_capture_on_commit_callbacks
    )
    assert response.status_code == 202  # received: Guesty must not retry it forever
    delivery = PmsDelivery.objects.get()
    assert delivery.status == Status.FAILED and delivery.needs_attention
    assert "5f0000000000000000000abc" in delivery.reason
    assert not Reservation.objects.filter(external_id=payloads.GUESTY_RESERVATION_ID).exists()
    wired.listing.external_id = "5f0000000000000000000abc"
    wired.listing.save(update_fields=["external_id"])
    with django_capture_on_commit_callbacks(execute=True):
        services.delivery_retry(delivery=delivery)
    delivery.refresh_from_db()
    assert delivery.status == Status.APPLIED and not delivery.needs_attention
    assert the_reservation().listing == wired.listing


def test_a_listing_of_another_organization_is_never_matched(
    client, wired, guesty, stay, org_b, django_capture_on_commit_callbacks
):
    org_b.listing.external_id = "other-org-listing"
    org_b.listing.save(update_fields=["external_id"])
    check_in, check_out = stay
    payload = payloads.guesty_reservation(
        check_in=check_in,
        check_out=check_out,
        published_at=timezone.now(),
        listing_id="other-org-listing",
    )
    post(client, guesty, payload, msg_id="msg_b", capture=django_capture_on_commit_callbacks)
    assert PmsDelivery.objects.get().needs_attention
    assert not Reservation.objects.filter(listing=org_b.listing, source="guesty").exists()


@pytest.mark.parametrize("how", ["wrong secret", "unsigned", "tampered", "stale"])
def test_a_delivery_not_signed_by_guesty_is_refused_recorded_and_changes_nothing(
    client, wired, guesty, stay, how, django_capture_on_commit_callbacks
):
    check_in, check_out = stay
    payload = payloads.guesty_reservation(
        check_in=check_in, check_out=check_out, published_at=timezone.now()
    )
    secret = payloads.GUESTY_SECRET
    if how == "wrong secret":
        secret = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="
    sent_at = timezone.now() - datetime.timedelta(hours=1) if how == "stale" else None
    body, headers = payloads.guesty_signed(
        payload, msg_id="msg_bad", secret=secret, sent_at=sent_at
    )
    if how == "unsigned":
        headers = {}
    if how == "tampered":
        body = body.replace(b"confirmed", b"canceled")
    url = reverse("pms_webhook", args=[guesty.public_id])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, data=body, content_type="application/json", headers=headers)
    assert response.status_code == 401
    delivery = PmsDelivery.objects.get()
    assert delivery.status == Status.REFUSED and delivery.body is None
    assert not Reservation.objects.filter(external_id=payloads.GUESTY_RESERVATION_ID).exists()


def test_an_unknown_webhook_id_and_an_oversized_body_are_refused(client, guesty, settings):
    assert (
        client.post("/webhooks/pms/nope/", data=b"{}", content_type="application/json").status_code
        == 404
    )
    settings.PMS_WEBHOOK_MAX_BYTES = 100
    url = reverse("pms_webhook", args=[guesty.public_id])
    response = client.post(url, data=b"{" + b" " * 200 + b"}", content_type="application/json")
    assert response.status_code == 413
    assert not PmsDelivery.objects.exists()


# ------------------------------------------------------------ the guest, from Guesty's API


@pytest.fixture
def guesty_api(settings, guesty):
    """Guesty's Open API played by a local HTTP server on loopback (the outbound guard lets
    tests reach it through the private-address setting)."""
    server = Receiver()
    settings.GUESTY_API_URL = server.url
    settings.KEYSTAY_OUTBOUND_ALLOW_HTTP = True
    settings.KEYSTAY_OUTBOUND_ALLOW_PRIVATE = True
    services.connection_set_secrets(connection=guesty, api_client_secret="client-secret-1")
    guesty.api_client_id = "client-id-1"
    guesty.save(update_fields=["api_client_id"])
    from django.core.cache import cache

    cache.clear()
    yield server
    server.stop()


GUEST = {
    "_id": payloads.GUESTY_GUEST_ID,
    "fullName": "Ana Costa",
    "email": "ana@example.com",
    "phone": "+351 912 000 111",
}
TOKEN = {"access_token": "tok-1", "token_type": "Bearer", "expires_in": 86400}


def test_with_api_credentials_the_guest_is_fetched_from_guesty(
    client, wired, guesty, stay, guesty_api, django_capture_on_commit_callbacks
):
    guesty_api.answer(200, json.dumps(TOKEN).encode())
    guesty_api.answer(200, json.dumps(GUEST).encode())
    check_in, check_out = stay
    payload = payloads.guesty_reservation(
        check_in=check_in, check_out=check_out, published_at=timezone.now()
    )
    post(client, guesty, payload, msg_id="msg_g", capture=django_capture_on_commit_callbacks)
    reservation = the_reservation()
    assert (reservation.guest_name, reservation.guest_email, reservation.guest_phone) == (
        "Ana Costa",
        "ana@example.com",
        "+351 912 000 111",
    )
    token_request, guest_request = guesty_api.requests
    assert token_request.path == "/oauth2/token" and b"client_credentials" in token_request.body
    assert guest_request.method == "GET"
    assert guest_request.path == f"/v1/guests/{payloads.GUESTY_GUEST_ID}"
    assert guest_request.headers["Authorization"] == "Bearer tok-1"
    assert not PmsBooking.objects.get().contact_missing


def test_guesty_down_retries_the_delivery_later_and_it_is_never_lost(
    client, wired, guesty, stay, guesty_api, django_capture_on_commit_callbacks
):
    guesty_api.answer(503, b"unavailable")
    check_in, check_out = stay
    payload = payloads.guesty_reservation(
        check_in=check_in, check_out=check_out, published_at=timezone.now()
    )
    post(client, guesty, payload, msg_id="msg_r", capture=django_capture_on_commit_callbacks)
    delivery = PmsDelivery.objects.get()
    assert delivery.status == Status.FAILED and "retried" in delivery.reason
    assert delivery.next_attempt_at is not None
    assert not Reservation.objects.filter(external_id=payloads.GUESTY_RESERVATION_ID).exists()
    guesty_api.answer(200, json.dumps(TOKEN).encode())
    guesty_api.answer(200, json.dumps(GUEST).encode())
    later = time_machine.travel(delivery.next_attempt_at + MINUTE, tick=False)
    with later, django_capture_on_commit_callbacks(execute=True):
        assert services.deliveries_apply_due() == 1
    delivery.refresh_from_db()
    assert delivery.status == Status.APPLIED and delivery.attempts == 2
    assert the_reservation().guest_email == "ana@example.com"


def test_requests_to_guesty_are_rate_limited(
    client, wired, guesty, stay, guesty_api, settings, django_capture_on_commit_callbacks
):
    settings.GUESTY_API_RATE_PER_MINUTE = 1  # the token takes the only slot
    guesty_api.answer(200, json.dumps(TOKEN).encode())
    check_in, check_out = stay
    payload = payloads.guesty_reservation(
        check_in=check_in, check_out=check_out, published_at=timezone.now()
    )
    post(client, guesty, payload, msg_id="msg_l", capture=django_capture_on_commit_callbacks)
    delivery = PmsDelivery.objects.get()
    assert delivery.status == Status.FAILED and "per minute" in delivery.reason
    assert len(guesty_api.requests) == 1  # the guest was not asked for
