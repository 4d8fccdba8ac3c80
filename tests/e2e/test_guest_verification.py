"""Guest verification in the browser: staff see a held code as held (and not its digits),
mark the guest verified and see the code released and recorded; a manager holds stays
confirmed before verification was switched on, told how many first."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from reservations.models import Reservation
from tests.e2e.browser import sign_in
from tests.fixtures_lifecycle import run_at

pytestmark = pytest.mark.django_db(transaction=True)


def test_staff_mark_a_held_guest_verified_and_the_code_goes_on(page, live_server, wired):
    wired.listing.requires_verification = True
    wired.listing.save()
    reservation = wired.book(days_ahead=0, guest_name="Held Guest")
    code = reservation.code.value
    run_at(timezone.now())
    assert wired.codes_on(wired.gate) == []

    sign_in(page, live_server, "alpha-staff")
    page.goto(f"{live_server.url}/admin/reservations/reservation/{reservation.pk}/change/")
    expect(page.locator("#door-code")).to_contain_text("Held until the guest is verified")
    expect(page.locator("#content-main")).not_to_contain_text(code)
    expect(page.locator("#reservation-actions")).not_to_contain_text("Rotate code")

    page.click("input[value='Mark guest verified']")
    expect(page.locator(".messagelist")).to_contain_text("Verified: the code is released")
    expect(page.locator("#door-code")).to_have_text(code)
    expect(page.locator("#verification-status")).to_contain_text("by alpha-staff")
    expect(page.locator("#verification-history")).to_contain_text("Guest verified")
    run_at(timezone.now())
    assert [c.code for c in wired.codes_on(wired.gate)] == [code]

    page.click("text=History")
    expect(page.locator("#change-history")).to_contain_text("Mark guest verified.")


def test_a_manager_holds_earlier_stays_after_being_told_how_many(midday, page, live_server, wired):
    first = wired.book(days_ahead=0, guest_name="First Guest")
    second = wired.book(days_ahead=5, guest_name="Second Guest")
    run_at(timezone.now())
    assert len(wired.codes_on(wired.gate)) == 1  # the first stay's code is on the lock

    sign_in(page, live_server, "alpha-manager")
    page.goto(f"{live_server.url}/admin/reservations/reservation/")
    for stay in (first, second):
        page.check(f"input.action-select[value='{stay.pk}']")
    page.select_option("select[name=action]", "hold_selected")
    page.click("button[name=index]")
    question = page.locator("#content-main")
    expect(question).to_contain_text("2 of the 2 selected stays will be held")
    expect(question).to_contain_text("1 of them has a code on the locks, which comes off now")
    page.click("input[value='Yes, hold until verified']")
    expect(page.locator(".messagelist")).to_contain_text(
        "2 stays held until their guests are verified"
    )
    assert all(r.code_held for r in Reservation.objects.filter(pk__in=[first.pk, second.pk]))
    run_at(timezone.now())
    assert wired.codes_on(wired.gate) == [] and wired.codes_on(wired.side) == []
