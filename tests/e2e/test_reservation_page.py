"""Staff work a stay in the browser: see the code on each lock, only the actions that
apply, cancel after confirming, see it revoked and in the stay's history."""

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

    actions = page.locator("#reservation-actions input[type=submit]")
    expect(actions).to_have_count(4)  # nothing failed: no "Retry failed locks now"
    expect(page.locator("#reservation-actions")).not_to_contain_text("Retry")

    page.click("input[value='Cancel reservation']")
    expect(page.locator("#content-main")).to_contain_text("revoked on every lock at once")
    page.click("text=No, go back")  # changed their mind: nothing happened
    expect(locks).to_contain_text("Active")
    page.click("input[value='Cancel reservation']")
    page.click("input[value='Yes, cancel reservation']")
    expect(page.locator(".messagelist")).to_contain_text("revoked on every lock")
    expect(locks).to_contain_text("Revoked (reservation cancelled)")
    assert wired.codes_on(wired.gate) == [] and wired.codes_on(wired.side) == []
    expect(page.locator("#reservation-actions")).to_have_count(0)  # nothing left to do

    page.click("text=History")
    expect(page.locator("#change-history")).to_contain_text("Cancel reservation.")
    expect(page.locator("#change-history")).to_contain_text("alpha-staff")


def test_staff_are_asked_before_rotating_and_told_which_doors_change(page, live_server, wired):
    from locks.models import LockAssignment
    from reservations import services

    reservation = wired.book(days_ahead=0, guest_name="Rotating Guest")
    gate = LockAssignment.objects.get(listing=wired.listing, device=wired.gate)
    services.override_set(reservation=reservation, assignment=gate, code="583917")
    run_at(timezone.now())
    old = reservation.code.value

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "alpha-staff")
    page.fill("#id_password", "pw-for-tests")
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/reservations/reservation/{reservation.pk}/change/")
    page.click("input[value='Rotate code']")
    question = page.locator("#content-main")
    expect(question).to_contain_text("The guest must be told the new code")
    expect(question).to_contain_text(
        "The new code replaces the old one on Side Door. Garden Gate keeps its own code."
    )
    page.click("text=No, go back")  # nothing happened
    expect(page.locator("#door-code")).to_have_text(old)

    page.click("input[value='Rotate code']")
    page.click("input[value='Yes, rotate code']")
    expect(page.locator(".messagelist")).to_contain_text(
        "The new code replaces the old one on Side Door. Garden Gate keeps its own code."
    )
    expect(page.locator("#door-code")).not_to_have_text(old)
    expect(page.locator("#sent-to-guest")).to_contain_text("Sent to guest: not yet")
