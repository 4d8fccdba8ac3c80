"""Staff work a stay in the browser: see the code on each lock, cancel, see it revoked."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.fixtures_lifecycle import run_at

pytestmark = pytest.mark.django_db(transaction=True)


def test_staff_cancel_a_stay_and_see_its_code_revoked_on_every_lock(page, live_server, wired):
    reservation = wired.book(days_ahead=0, guest_name="Browser Guest")
    run_at(timezone.now())
    assert len(wired.codes_on(wired.gate)) == 1

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "alpha-staff")
    page.fill("#id_password", "pw-for-tests")
    page.click("input[type=submit]")
    page.click("text=Dashboard")
    page.click("#arrivals >> text=Browser Guest")
    expect(page.locator("#door-code")).to_have_text(reservation.code.value)
    locks = page.locator(".inline-group", has_text="Code on each lock")
    expect(locks).to_contain_text("Garden Gate")
    expect(locks).to_contain_text("Active")

    page.click("input[value='Cancel reservation']")
    expect(page.locator("#content-main")).to_contain_text("revoked on every lock at once")
    page.click("input[value='Yes, cancel reservation']")
    expect(page.locator(".messagelist")).to_contain_text("revoked on every lock")
    expect(locks).to_contain_text("Revoked (reservation cancelled)")
    assert wired.codes_on(wired.gate) == [] and wired.codes_on(wired.side) == []
