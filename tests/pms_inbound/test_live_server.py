"""The webhook URL on a real HTTP server: each PMS's deliveries arrive over the network,
are applied on commit (django-q2 runs tasks inline in the tests) and the code follows."""

from __future__ import annotations

import datetime
import json

import httpx
import pytest
from django.urls import reverse
from django.utils import timezone

from pms_inbound.models import PmsDelivery
from reservations.models import LockAccess, Reservation
from tests.fixtures_lifecycle import run_at

from . import payloads

pytestmark = pytest.mark.django_db(transaction=True)
DAY = datetime.timedelta(days=1)
MINUTE = datetime.timedelta(minutes=1)


def stay_days(wired):
    today = timezone.localdate(timezone=wired.listing.property.zone)
    return today + 4 * DAY, today + 7 * DAY


def test_guesty_deliveries_over_http_create_and_cancel_a_stay(live_server, wired, guesty):
    wired.listing.external_id = payloads.GUESTY_LISTING_ID
    wired.listing.save(update_fields=["external_id"])
    arrival, departure = stay_days(wired)
    check_in = wired.listing.local_check_in(arrival)
    check_out = wired.listing.local_check_out(departure)
    url = live_server.url + reverse("pms_webhook", args=[guesty.public_id])
    now = timezone.now()
    created = payloads.guesty_reservation(check_in=check_in, check_out=check_out, published_at=now)
    body, headers = payloads.guesty_signed(created, msg_id="live_1")
    answer = httpx.post(url, content=body, headers={**headers, "Content-Type": "application/json"})
    assert answer.status_code == 202
    reservation = Reservation.objects.get(external_id=payloads.GUESTY_RESERVATION_ID)
    assert reservation.status == Reservation.Status.CONFIRMED
    run_at(LockAccess.objects.get(reservation=reservation, device=wired.gate).program_at)
    assert len(wired.codes_on(wired.gate)) == 1

    replay = httpx.post(url, content=body, headers={**headers, "Content-Type": "application/json"})
    assert replay.json() == {"status": "duplicate"}
    canceled = payloads.guesty_reservation(
        event="reservation.updated.v2",
        status="canceled",
        check_in=check_in,
        check_out=check_out,
        published_at=now + MINUTE,
    )
    body, headers = payloads.guesty_signed(canceled, msg_id="live_2")
    httpx.post(url, content=body, headers={**headers, "Content-Type": "application/json"})
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CANCELLED
    assert wired.codes_on(wired.gate) == [] and wired.codes_on(wired.side) == []

    forged, headers = payloads.guesty_signed(created, msg_id="live_3", secret="whsec_" + "A" * 44)
    refused = httpx.post(
        url, content=forged, headers={**headers, "Content-Type": "application/json"}
    )
    assert refused.status_code == 401
    assert PmsDelivery.objects.filter(status=PmsDelivery.Status.REFUSED).count() == 1


def test_hostaway_deliveries_over_http_create_and_change_a_stay(live_server, wired, hostaway):
    wired.listing.external_id = payloads.HOSTAWAY_LISTING_ID
    wired.listing.save(update_fields=["external_id"])
    arrival, departure = stay_days(wired)
    url = live_server.url + reverse("pms_webhook", args=[hostaway.public_id])
    now = timezone.now()
    created = payloads.hostaway_reservation(arrival=arrival, departure=departure, updated_on=now)
    headers = {**payloads.hostaway_auth(), "Content-Type": "application/json"}
    assert httpx.post(url, content=json.dumps(created), headers=headers).status_code == 202
    changed = payloads.hostaway_reservation(
        event="reservation.updated",
        status="modified",
        arrival=arrival + DAY,
        departure=departure,
        updated_on=now + MINUTE,
    )
    httpx.post(url, content=json.dumps(changed), headers=headers)
    reservation = Reservation.objects.get(external_id=str(payloads.HOSTAWAY_RESERVATION_ID))
    assert reservation.check_in == wired.listing.local_check_in(arrival + DAY)
    run_at(LockAccess.objects.get(reservation=reservation, device=wired.gate).program_at)
    (on_gate,) = wired.codes_on(wired.gate)
    assert on_gate.code == reservation.code.value
    wrong = {**payloads.hostaway_auth(password="nope"), "Content-Type": "application/json"}
    assert httpx.post(url, content=json.dumps(created), headers=wrong).status_code == 401
