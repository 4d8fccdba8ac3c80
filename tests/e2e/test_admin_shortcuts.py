"""The admin's "Today" and "Now" shortcuts on a stay's page fill the property's local date
and time (the times the form reads), whatever the browser's zone."""

import datetime
import zoneinfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.e2e.browser import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("zone_name", ["Asia/Kolkata", "America/Los_Angeles"])
def test_now_and_today_fill_the_propertys_local_time(page, live_server, org_a, zone_name):
    org_a.property.time_zone = zone_name
    org_a.property.save()
    sign_in(page, live_server, org_a.staff.username)
    page.goto(f"{live_server.url}/admin/reservations/reservation/{org_a.reservation.pk}/change/")
    row = page.locator(".field-check_in")
    row.get_by_role("link", name="Now").first.click()
    row.get_by_role("link", name="Today").first.click()
    local = timezone.localtime(timezone.now(), zoneinfo.ZoneInfo(zone_name))
    expect(page.locator("#id_check_in_0")).to_have_value(local.strftime("%Y-%m-%d"))
    typed = page.locator("#id_check_in_1").input_value()
    filled = datetime.datetime.strptime(typed[:5], "%H:%M")
    minutes = filled.hour * 60 + filled.minute
    expected = local.hour * 60 + local.minute
    assert min(abs(minutes - expected), 1440 - abs(minutes - expected)) <= 2


def test_on_a_new_stay_now_fills_the_local_time_of_ones_properties(page, live_server, org_a):
    org_a.property.time_zone = "Asia/Kolkata"
    org_a.property.save()
    sign_in(page, live_server, org_a.staff.username)
    page.goto(f"{live_server.url}/admin/reservations/reservation/add/")
    row = page.locator(".field-check_in")
    row.get_by_role("link", name="Now").first.click()
    local = timezone.localtime(timezone.now(), zoneinfo.ZoneInfo("Asia/Kolkata"))
    typed = page.locator("#id_check_in_1").input_value()
    filled = datetime.datetime.strptime(typed[:5], "%H:%M")
    minutes, expected = filled.hour * 60 + filled.minute, local.hour * 60 + local.minute
    assert min(abs(minutes - expected), 1440 - abs(minutes - expected)) <= 2
