"""A guest opens their private link on a phone and finds the code of each door, in
headless Chromium; the page fits the screen (screenshot in test-results/screenshots/)."""

import pathlib

import pytest
from django.conf import settings
from django.core.cache import cache
from playwright.sync_api import expect

from guests.links import guest_path
from locks.models import LockAssignment
from reservations import services

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOT = pathlib.Path(settings.BASE_DIR) / "test-results/screenshots/guest-page.png"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def fits_the_width(page) -> bool:
    width = page.evaluate("window.innerWidth")
    scroll = page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
    )
    return scroll <= width


def test_a_guest_finds_each_doors_code_on_a_phone(browser, live_server, wired):
    reservation = wired.book(days_ahead=1, guest_name="Phone Guest")
    gate = LockAssignment.objects.get(listing=wired.listing, device=wired.gate)
    services.override_set(reservation=reservation, assignment=gate, code="4829")

    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    try:
        page = context.new_page()
        response = page.goto(f"{live_server.url}{guest_path(reservation)}")
        assert response.status == 200

        gate_door = page.locator('[data-door="Garden Gate"]')
        side_door = page.locator('[data-door="Side Door"]')
        expect(gate_door.locator("[data-code]")).to_have_text("4829")
        expect(gate_door).to_contain_text("This door has its own code.")
        expect(side_door.locator("[data-code]")).to_have_text(reservation.code.value)
        expect(side_door).not_to_contain_text("own code")
        expect(page.locator("#check-in")).to_contain_text("(Europe/Lisbon)")

        # Large monospace digits: the stylesheet loaded from this server.
        code = gate_door.locator("[data-code]")
        assert float(code.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 32
        assert "monospace" in code.evaluate("e => getComputedStyle(e).fontFamily")
        assert fits_the_width(page)

        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)

        # A narrower phone still shows every digit without scrolling sideways.
        page.set_viewport_size({"width": 320, "height": 640})
        assert fits_the_width(page)
        box = side_door.locator("[data-code]").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 320
    finally:
        context.close()
