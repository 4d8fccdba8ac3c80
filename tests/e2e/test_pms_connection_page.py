"""A manager connects Hostaway in the admin, Hostaway's deliveries arrive, and the
connection's page shows each one with its outcome and reason."""

from __future__ import annotations

import datetime
import json

import httpx
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from pms_inbound.models import PmsConnection
from reservations.models import Reservation
from tests.e2e.browser import sign_in
from tests.pms_inbound import payloads

pytestmark = pytest.mark.django_db(transaction=True)
DAY = datetime.timedelta(days=1)


def test_manager_connects_hostaway_and_sees_the_deliveries(page, live_server, wired):
    wired.listing.external_id = payloads.HOSTAWAY_LISTING_ID
    wired.listing.save(update_fields=["external_id"])
    sign_in(page, live_server, "alpha-manager")
    page.goto(f"{live_server.url}/admin/pms_inbound/pmsconnection/add/")
    page.get_by_label("Kind").select_option("hostaway")
    page.get_by_label("Name").fill("Hostaway – Lisbon")
    page.get_by_label("Webhook login").fill("keystay-lisbon")
    page.locator("input[name=_save]").click()

    # The password Keystay made, shown once with the URL to paste into Hostaway.
    password = page.locator("#pms-webhook-secret").input_value()
    url = page.locator("#pms-webhook-url").input_value()
    connection = PmsConnection.objects.get(name="Hostaway – Lisbon")
    assert url.endswith(f"/webhooks/pms/{connection.public_id}/") and len(password) >= 24

    today = timezone.localdate(timezone=wired.listing.property.zone)
    booked = payloads.hostaway_reservation(
        arrival=today + 4 * DAY, departure=today + 6 * DAY, updated_on=timezone.now()
    )
    stranger = payloads.hostaway_reservation(
        arrival=today + 4 * DAY,
        departure=today + 6 * DAY,
        updated_on=timezone.now(),
        listing_id="777",
    )
    headers = {
        **payloads.hostaway_auth(login="keystay-lisbon", password=password),
        "Content-Type": "application/json",
    }
    assert httpx.post(url, content=json.dumps(booked), headers=headers).status_code == 202
    assert httpx.post(url, content=json.dumps(stranger), headers=headers).status_code == 202
    bad = {**payloads.hostaway_auth(login="keystay-lisbon", password="guess"), **headers}
    bad["Authorization"] = payloads.hostaway_auth(login="keystay-lisbon", password="guess")[
        "Authorization"
    ]
    assert httpx.post(url, content=json.dumps(booked), headers=bad).status_code == 401
    assert Reservation.objects.filter(source="hostaway").count() == 1

    page.goto(f"{live_server.url}/admin/pms_inbound/pmsconnection/{connection.pk}/change/")
    expect(page.locator("#pms-webhook-url")).to_contain_text(connection.public_id)
    expect(page.locator("body")).not_to_contain_text(password)
    expect(page.locator("#pms-health")).to_contain_text("1 applied")
    expect(page.locator("#pms-health")).to_contain_text("1 failed")
    expect(page.locator("#pms-health")).to_contain_text("1 refused")
    expect(page.locator(".pms-delivery-applied")).to_have_count(1)
    expect(page.locator(".pms-delivery-failed")).to_contain_text("needs attention")
    expect(page.locator("body")).to_contain_text("external id '777'")
    expect(page.locator(".pms-delivery-refused")).to_have_count(1)

    page.get_by_role("link", name="all deliveries").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(3)
    expect(page.locator("#result_list")).to_contain_text("Wrong login or password.")
