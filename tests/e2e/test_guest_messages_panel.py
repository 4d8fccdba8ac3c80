"""Staff share a stay's door codes from the reservation page in headless Chromium: Enter
in a field still saves the reservation (the panel's buttons post through their own form),
and "Copy message text" puts the message on the clipboard and records the delivery."""

import pytest
from playwright.sync_api import expect

from guests.models import GuestMessage
from tests.e2e.browser import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_staff_copy_the_message_and_enter_still_saves_the_reservation(
    page, live_server, wired, mailoutbox
):
    reservation = wired.book(guest_email="maria@example.com")
    sign_in(page, live_server, "alpha-staff")
    page.goto(f"{live_server.url}/admin/reservations/reservation/{reservation.pk}/change/")
    panel = page.locator("#panel-guest-messages")
    expect(panel).to_contain_text("Sent to guest: not yet")

    # Enter in the guest's name saves the reservation; it does not email the guest.
    page.fill("#id_guest_name", "Maria Silva-Santos")
    page.press("#id_guest_name", "Enter")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    reservation.refresh_from_db()
    assert reservation.guest_name == "Maria Silva-Santos"
    assert not GuestMessage.objects.exists() and mailoutbox == []

    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.goto(f"{live_server.url}/admin/reservations/reservation/{reservation.pk}/change/")
    page.get_by_role("button", name="Copy message text").click()
    body = page.locator("#copy-body")
    expect(body).to_contain_text(f"- Garden Gate: {reservation.code.value}")
    body.locator("xpath=..").get_by_role("button", name="Copy").click()
    expect(body.locator("xpath=..").locator(".copy-status")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == body.input_value()

    page.get_by_role("link", name="Back to the reservation").click()
    expect(page.locator("#sent-to-guest")).to_contain_text("text copied by alpha-staff")
    copied = GuestMessage.objects.get(reservation=reservation)
    assert copied.channel == GuestMessage.Channel.COPY_TEXT
    assert mailoutbox == []


def test_the_panels_buttons_look_like_the_admins(page, live_server, wired):
    reservation = wired.book(guest_email="maria@example.com")
    sign_in(page, live_server, "alpha-staff")
    page.goto(f"{live_server.url}/admin/reservations/reservation/{reservation.pk}/change/")
    save = page.locator("input[name=_save]")
    for name in ("Email the message now", "Copy message text", "Copy guest link"):
        button = page.get_by_role("button", name=name)
        # The admin's button colour, not the browser's grey default.
        assert button.evaluate("e => getComputedStyle(e).backgroundColor") != (
            "rgb(239, 239, 239)"
        )
        assert button.evaluate("e => getComputedStyle(e).color") == save.evaluate(
            "e => getComputedStyle(e).color"
        )
