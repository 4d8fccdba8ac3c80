"""A guest opens their link on a 390 px phone and reads it in their language: the page in
Portuguese, then German through the switch, with the right code and the property's local
times, and a long German name that wraps instead of widening the page."""

import pytest
from django.utils import timezone, translation
from django.utils.formats import date_format
from playwright.sync_api import expect

from guests.links import guest_path
from tests.e2e.test_guest_page_browser import PHONE, fresh_rate_limits  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

LONG_GERMAN = "Donaudampfschifffahrtsgesellschaftskapitänswohnungseingangstürschlüsselkasten"


def fits_the_phone(page) -> bool:
    """Nothing wider than the phone: not the page (a mobile browser widens its viewport to
    fit what overflows, so the phone's own width is the measure), not a word in a box."""
    return page.evaluate(
        """width => document.documentElement.scrollWidth <= width
           && [...document.querySelectorAll("main *")].every(
                e => e.scrollWidth <= Math.max(e.clientWidth, 1) || e.clientWidth === 0)""",
        PHONE["width"],
    )


def local(value, zone, language, fmt) -> str:
    with translation.override(language):
        return date_format(timezone.localtime(value, zone), fmt)


def test_the_guest_page_in_portuguese_then_german_on_a_phone(browser, live_server, wired):
    wired.listing.name = LONG_GERMAN
    wired.listing.check_in_instructions = f"Der Schlüssel liegt im {LONG_GERMAN}."
    wired.listing.save()
    reservation = wired.book(days_ahead=1, guest_name="Maria Silva", language="pt")
    zone = wired.listing.property.zone  # Europe/Lisbon
    code = reservation.code.value

    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    try:
        page = context.new_page()
        assert page.goto(f"{live_server.url}{guest_path(reservation)}").status == 200
        expect(page.locator("html")).to_have_attribute("lang", "pt")
        expect(page.locator("#check-in h2")).to_have_text("Quando e onde")
        expect(page.locator('[data-door="Side Door"] [data-code]')).to_have_text(code)
        expect(page.locator("[data-check-in]")).to_have_text(
            local(reservation.check_in, zone, "pt", r"l, j \d\e F \d\e Y, H:i T")
        )
        expect(page.locator("[data-check-out]")).to_have_text(
            local(reservation.check_out, zone, "pt", r"l, j \d\e F \d\e Y, H:i T")
        )
        assert fits_the_phone(page)

        page.click('a[data-lang="de"]')
        expect(page.locator("html")).to_have_attribute("lang", "de")
        expect(page.locator("#check-in h2")).to_have_text("Wann und wo")
        expect(page.locator('[data-door="Side Door"] [data-code]')).to_have_text(code)
        expect(page.locator("[data-check-in]")).to_have_text(
            local(reservation.check_in, zone, "de", r"l, j. F Y, H:i T")
        )
        expect(page.locator('a[data-lang="de"]')).to_have_attribute("aria-current", "true")
        expect(page.locator("h1")).to_have_text(LONG_GERMAN)
        # The long word wraps inside the screen: nothing scrolls sideways.
        assert fits_the_phone(page)
        assert page.evaluate("window.innerWidth") == PHONE["width"]

        page.click('a[data-lang="pt"]')
        expect(page.locator("#check-in h2")).to_have_text("Quando e onde")
    finally:
        context.close()
