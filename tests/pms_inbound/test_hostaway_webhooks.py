"""Hostaway's unified webhook (basic authentication) becomes stays; codes follow on Seam's
fake."""

from __future__ import annotations

import datetime
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from pms_inbound.models import PmsDelivery
from reservations.models import LockAccess, Reservation
from tests.fixtures_lifecycle import run_at

from . import payloads

pytestmark = pytest.mark.django_db
Status = PmsDelivery.Status
DAY = datetime.timedelta(days=1)
MINUTE = datetime.timedelta(minutes=1)
EXTERNAL_ID = str(payloads.HOSTAWAY_RESERVATION_ID)


@pytest.fixture
def days(wired, hostaway):
    wired.listing.external_id = payloads.HOSTAWAY_LISTING_ID
    wired.listing.save(update_fields=["external_id"])
    today = timezone.localdate(timezone=wired.listing.property.zone)
    return today + 4 * DAY, today + 7 * DAY


def post(client, connection, payload, *, capture, auth=None):
    with capture(execute=True):
        return client.post(
            reverse("pms_webhook", args=[connection.public_id]),
            data=json.dumps(payload),
            content_type="application/json",
            headers=payloads.hostaway_auth() if auth is None else auth,
        )


def test_created_then_modified_then_cancelled_and_the_code_follows(
    client, wired, hostaway, days, django_capture_on_commit_callbacks
):
    arrival, departure = days
    now = timezone.now()
    capture = django_capture_on_commit_callbacks
    created = payloads.hostaway_reservation(arrival=arrival, departure=departure, updated_on=now)
    assert post(client, hostaway, created, capture=capture).status_code == 202
    reservation = Reservation.objects.get(external_id=EXTERNAL_ID)
    # Dates alone take the listing's own check-in and check-out times (as in the API).
    assert reservation.check_in == wired.listing.local_check_in(arrival)
    assert reservation.check_out == wired.listing.local_check_out(departure)
    assert reservation.status == Reservation.Status.CONFIRMED
    assert (reservation.guest_name, reservation.guest_email) == (
        "Pieter Aalders",
        "pieter@example.com",
    )
    run_at(LockAccess.objects.get(reservation=reservation, device=wired.gate).program_at)
    assert len(wired.codes_on(wired.gate)) == 1 and len(wired.codes_on(wired.side)) == 1

    modified = payloads.hostaway_reservation(
        event="reservation.updated",
        status="modified",
        arrival=arrival,
        departure=departure + DAY,
        updated_on=now + MINUTE,
    )
    post(client, hostaway, modified, capture=capture)
    reservation.refresh_from_db()
    assert reservation.check_out == wired.listing.local_check_out(departure + DAY)
    run_at(timezone.now())
    (on_gate,) = wired.codes_on(wired.gate)
    ends = reservation.window[1].astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert on_gate.ends_at == ends

    cancelled = payloads.hostaway_reservation(
        event="reservation.updated",
        status="cancelled",
        arrival=arrival,
        departure=departure + DAY,
        updated_on=now + 2 * MINUTE,
    )
    post(client, hostaway, cancelled, capture=capture)
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CANCELLED
    assert wired.codes_on(wired.gate) == [] and wired.codes_on(wired.side) == []
    assert list(PmsDelivery.objects.values_list("status", flat=True)) == [Status.APPLIED] * 3


def test_a_replayed_delivery_changes_nothing(
    client, wired, hostaway, days, django_capture_on_commit_callbacks
):
    arrival, departure = days
    payload = payloads.hostaway_reservation(
        arrival=arrival, departure=departure, updated_on=timezone.now()
    )
    post(client, hostaway, payload, capture=django_capture_on_commit_callbacks)
    before = Reservation.objects.get(external_id=EXTERNAL_ID).updated_at
    again = post(client, hostaway, payload, capture=django_capture_on_commit_callbacks)
    assert again.status_code == 200 and again.json() == {"status": "duplicate"}
    assert PmsDelivery.objects.count() == 1
    assert Reservation.objects.get(external_id=EXTERNAL_ID).updated_at == before


def test_an_older_update_arriving_late_is_ignored(
    client, wired, hostaway, days, django_capture_on_commit_callbacks
):
    arrival, departure = days
    now = timezone.now()
    newer = payloads.hostaway_reservation(
        event="reservation.updated",
        status="modified",
        arrival=arrival,
        departure=departure + 2 * DAY,
        updated_on=now + MINUTE,
    )
    older = payloads.hostaway_reservation(arrival=arrival, departure=departure, updated_on=now)
    post(client, hostaway, newer, capture=django_capture_on_commit_callbacks)
    post(client, hostaway, older, capture=django_capture_on_commit_callbacks)
    reservation = Reservation.objects.get(external_id=EXTERNAL_ID)
    assert reservation.check_out == wired.listing.local_check_out(departure + 2 * DAY)
    late = PmsDelivery.objects.order_by("-pk").first()
    assert late.status == Status.IGNORED


def test_an_unknown_listing_is_recorded_and_raised(
    client, wired, hostaway, days, django_capture_on_commit_callbacks
):
    arrival, departure = days
    payload = payloads.hostaway_reservation(
        arrival=arrival, departure=departure, updated_on=timezone.now(), listing_id="99999"
    )
    assert (
        post(client, hostaway, payload, capture=django_capture_on_commit_callbacks).status_code
        == 202
    )
    delivery = PmsDelivery.objects.get()
    assert delivery.status == Status.FAILED and delivery.needs_attention
    assert "99999" in delivery.reason
    assert not Reservation.objects.filter(external_id=EXTERNAL_ID).exists()


def test_message_events_and_owner_stays_are_ignored_with_a_reason(
    client, wired, hostaway, days, django_capture_on_commit_callbacks
):
    arrival, departure = days
    owner = payloads.hostaway_reservation(
        arrival=arrival, departure=departure, updated_on=timezone.now(), status="ownerStay"
    )
    post(client, hostaway, owner, capture=django_capture_on_commit_callbacks)
    message = {"object": "conversationMessage", "event": "message.received", "data": {"id": 1}}
    post(client, hostaway, message, capture=django_capture_on_commit_callbacks)
    reasons = list(PmsDelivery.objects.order_by("pk").values_list("status", "reason"))
    assert [status for status, _ in reasons] == [Status.IGNORED, Status.IGNORED]
    assert "ownerStay" in reasons[0][1] and "message.received" in reasons[1][1]
    assert not Reservation.objects.filter(external_id=EXTERNAL_ID).exists()


@pytest.mark.parametrize(
    "auth",
    [
        {},
        payloads.hostaway_auth(password="wrong"),
        payloads.hostaway_auth(login="someone-else"),
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Bearer token"},
    ],
    ids=["none", "wrong password", "wrong login", "unreadable", "not basic"],
)
def test_a_delivery_without_the_right_credentials_is_refused_and_recorded(
    client, wired, hostaway, days, auth, django_capture_on_commit_callbacks
):
    arrival, departure = days
    payload = payloads.hostaway_reservation(
        arrival=arrival, departure=departure, updated_on=timezone.now()
    )
    response = post(
        client, hostaway, payload, capture=django_capture_on_commit_callbacks, auth=auth
    )
    assert response.status_code == 401
    assert PmsDelivery.objects.get().status == Status.REFUSED
    assert not Reservation.objects.filter(external_id=EXTERNAL_ID).exists()


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'"text"',
        b"{" * 5000,
        b'{"event": "reservation.created"}',
        b'{"event": "reservation.created", "data": {"id": NaN}}',
        b'{"event": "reservation.created", "data": {"guestName": "A\\u0000B"}}',
        b'{"event": "reservation.created", "data": {"id": 1, "listingMapId": 40160, '
        b'"status": "new", "arrivalDate": "2026-02-30", "departureDate": "x", '
        b'"updatedOn": "yesterday"}}',
    ],
    ids=["not json", "a list", "a string", "nested too deep", "no data", "NaN", "NUL", "dates"],
)
def test_odd_bodies_are_answered_without_a_500_and_recorded_as_failed(
    client, hostaway, body, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("pms_webhook", args=[hostaway.public_id]),
            data=body,
            content_type="application/json",
            headers=payloads.hostaway_auth(),
        )
    assert response.status_code in (202, 400)
    delivery = PmsDelivery.objects.get()
    assert delivery.status == Status.FAILED and delivery.reason


def test_forgeries_are_recorded_only_up_to_a_bound(client, hostaway):
    url = reverse("pms_webhook", args=[hostaway.public_id])
    wrong = payloads.hostaway_auth(password="guess")
    for _ in range(55):
        response = client.post(url, data=b"{}", content_type="application/json", headers=wrong)
        assert response.status_code == 401
    assert PmsDelivery.objects.filter(status=Status.REFUSED).count() == 50
