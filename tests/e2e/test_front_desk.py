"""Staff at the front desk in headless Chromium, on a phone (390 px) and on a desk
(1,366 px): they land on the front desk after signing in, find a guest by phone digits
and by door code from the search box, reveal and copy the code (recorded, with who), and
email it to the guest (through a real SMTP server)."""

import re

import pytest
from playwright.sync_api import expect

from desk.models import CodeDisclosure, CodeLookup
from reservations.models import ReservationCode
from tests.desk.conftest import book
from tests.guests.conftest import smtp  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def assert_fits(page, width: int) -> None:
    """Nothing sticks out past the screen's right edge (no sideways scrolling)."""
    wide = page.evaluate(
        "() => [...document.querySelectorAll('body *')]"
        ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
        ".map(e => e.tagName + '.' + e.className)"
    )
    assert wide == [] and page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("width", [390, 1366])
def test_staff_find_a_guest_reveal_copy_and_email_the_code(
    page,
    live_server,
    org_a,
    smtp,  # noqa: F811
    width,
):
    stay = book(
        org_a,
        guest_name="Paula Phone",
        guest_phone="+351 912 847 395",
        guest_email="paula@example.com",
    )
    code = stay.code.value
    page.set_viewport_size({"width": width, "height": 900})

    # Signed in, staff land on the front desk.
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "alpha-staff")
    page.fill("#id_password", "pw-for-tests")
    page.click("input[type=submit]")
    expect(page).to_have_url(f"{live_server.url}/admin/desk/")
    card = page.locator(f"#stay-{stay.pk}")
    expect(card).to_contain_text("Paula Phone")
    expect(card).to_contain_text(org_a.device.name)
    expect(card.locator(".ks-code-value")).to_have_text("••••••")
    # Nothing wider than the screen.
    assert_fits(page, width)

    # The search box: by phone digits, then by the exact door code.
    page.fill("#header #ks-search-q", "847 395")
    page.press("#header #ks-search-q", "Enter")
    expect(page.locator("#stay-matches")).to_contain_text("Paula Phone")
    assert_fits(page, width)
    page.fill("#header #ks-search-q", code)
    page.press("#header #ks-search-q", "Enter")
    matches = page.locator("#code-matches")
    expect(matches).to_contain_text("Paula Phone")
    expect(matches).to_contain_text(org_a.device.name)
    assert CodeLookup.objects.get().user == org_a.staff

    # Reveal, then copy: each recorded with who; the copy marks the code sent.
    page.goto(f"{live_server.url}/admin/desk/")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    card.get_by_role("button", name="Reveal").click()
    expect(card.locator(".ks-code-value")).to_have_text(code)
    expect(card.locator(".ks-door-codes")).to_contain_text(f"{org_a.device.name}: {code}")
    assert ReservationCode.objects.get(reservation=stay).sent_at is None
    card.get_by_role("button", name="Copy code").click()
    expect(card.locator(".ks-status")).to_contain_text("Code copied; marked as sent")
    assert page.evaluate("navigator.clipboard.readText()") == code
    actions = list(CodeDisclosure.objects.order_by("pk").values_list("action", "user__username"))
    assert actions == [
        ("reveal", "alpha-staff"),
        ("reveal", "alpha-staff"),
        ("copy", "alpha-staff"),
    ]
    assert ReservationCode.objects.get(reservation=stay).sent_at is not None

    # Email it: the guest receives the code.
    card.get_by_role("button", name=re.compile("Email now|Resend")).click()
    expect(page.locator(".messagelist")).to_contain_text("emailed to paula@example.com")
    assert [e.rcpt_tos for e in smtp.envelopes] == [["paula@example.com"]]
    assert code in smtp.bodies()[0]
