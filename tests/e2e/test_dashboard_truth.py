"""Staff open the dashboard in headless Chromium after one stay was ended early and another
cancelled: neither is still "arriving", each door shows where its code is, a stay whose
code goes on no door is raised, an offline lock low on battery is listed once, and every
time names its zone."""

import datetime
import pathlib

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from locks.models import Device
from properties.models import Listing
from reservations import services
from reservations.models import Reservation
from tests.e2e.browser import sign_in
from tests.fixtures_lifecycle import run_at
from tests.reservations.test_dashboard_truth import LISBON, at_local, ended_and_cancelled, shown

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOT = pathlib.Path(settings.BASE_DIR) / "test-results/screenshots/dashboard.png"


def test_the_dashboard_after_a_stay_ended_early_and_another_cancelled(page, live_server, wired):
    # The page is read at 16:00 in Lisbon; the live server's clock is moved with the test's.
    traveller = time_machine.travel(at_local(0, 16), tick=False)
    traveller.start()
    try:
        stays = ended_and_cancelled(wired)
        lonely = Listing.objects.create(property=wired.listing.property, name="Garden Studio")
        services.reservation_create(
            listing=lonely,
            guest_name="Nadia Nodoor",
            check_in=at_local(1, 15),
            check_out=at_local(3, 11),
            status=Reservation.Status.CONFIRMED,
        )
        run_at(timezone.now() + datetime.timedelta(seconds=1))
        # The fake's offline lock (Pool House) is also low on battery.
        Device.objects.filter(name="Pool House").update(battery_level=0.04)

        sign_in(page, live_server, "alpha-staff")
        page.goto(f"{live_server.url}/admin/dashboard/")

        arriving_today = page.locator("#arrivals h3#arrivals-today")
        expect(arriving_today).to_have_text("Today (0)")
        arrivals = page.locator("#arrivals")
        expect(arrivals).not_to_contain_text("Ana Early")
        expect(arrivals).not_to_contain_text("Ben Cancelled")
        carla = arrivals.locator("tr.ks-arrival", has_text="Carla Tomorrow")
        expect(carla).to_contain_text(shown(stays["carla"].check_in))
        expect(carla.locator(".ks-door")).to_have_count(2)
        expect(carla.locator(".ks-door[data-door='Garden Gate']")).to_be_visible()

        leaving = page.locator("#departures")
        expect(page.locator("#departures h3#departures-today")).to_have_text("Today (2)")
        ana = leaving.locator("tr.ks-departure", has_text="Ana Early")
        expect(ana).to_contain_text("stay ended early")
        expect(ana.locator(".ks-door[data-door='Garden Gate']")).to_contain_text(
            "(stay ended early)"
        )
        expect(leaving).not_to_contain_text("Ben Cancelled")

        no_door = page.locator("#no-door")
        expect(no_door.locator("h2")).to_have_text("Stays with a code but no door (1)")
        expect(no_door).to_contain_text("Nadia Nodoor")

        locks = page.locator("#alerts tr.ks-lock", has_text="Pool House")
        expect(locks).to_have_count(1)
        expect(locks).to_contain_text("offline")
        expect(locks).to_contain_text("battery 4%")
        expect(page.get_by_text("Pool House", exact=True)).to_have_count(1)
        # Side Door (12 %) is on Carla's way in: listed once, at the top, not again below.
        expect(page.locator("#lock-health tr.ks-lock", has_text="Side Door")).to_have_count(1)
        expect(page.locator("tr.ks-lock", has_text="Side Door")).to_have_count(1)

        # Every time with its zone named, and the zone said once at the top.
        expect(page.locator("#zones")).to_contain_text("Europe/Lisbon")
        zone_name = timezone.localtime(stays["carla"].check_in, LISBON).strftime("%Z")
        expect(carla.locator("td").nth(2)).to_contain_text(f" {zone_name}")

        # A count opens the admin list of what it counts.
        page.locator("#no-door h2 a").click()
        expect(page.locator("#result_list")).to_contain_text("Nadia Nodoor")
        expect(page.locator("#result_list tbody tr")).to_have_count(1)
        page.go_back()

        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.set_viewport_size({"width": 1366, "height": 768})
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    finally:
        traveller.stop()
