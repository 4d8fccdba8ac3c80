"""A manager clears codes another system left on two locks, in headless Chromium: marks
them by lock name after a preview, reads the confirmation naming each door and code, and
sees them removed (gone at Seam's fake)."""

import pytest
from playwright.sync_api import expect

from locks.models import LeftoverRemoval
from locks.unmanaged import unmanaged_codes_import
from tests.e2e.browser import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_manager_marks_confirms_and_removes_leftover_codes(page, live_server, wired):
    wired.fake.add_unmanaged("august_device_1", "739104", "Old PMS 1")
    wired.fake.add_unmanaged("august_device_2", "739105", "Old PMS 2")
    wired.fake.add_unmanaged("keystay_lock_low_battery", "582913", "Cleaner Ana")
    unmanaged_codes_import(connection=wired.connection)

    sign_in(page, live_server, "alpha-manager")
    page.goto(f"{live_server.url}/admin/smart-devices/")
    page.click("#leftovers-link")
    expect(page.locator("h1")).to_have_text("Leftover codes")
    expect(page.locator("#lock-" + str(wired.side.pk))).to_contain_text("Cleaner Ana")

    # Mark by lock name: a preview first, then exactly what it listed.
    page.get_by_label("Lock names").fill("fake august*")
    page.click("input[value='Preview the codes']")
    matches = page.locator("#leftovers-matches tr.match")
    expect(matches).to_have_count(2)
    expect(page.locator("#leftovers-matches")).not_to_contain_text("Cleaner Ana")
    expect(page.locator("body")).not_to_contain_text("739104")
    page.click("input[value='Mark these 2 as leftovers']")
    expect(page.locator(".messagelist")).to_contain_text("Marked 2 codes as leftover")
    expect(page.locator("tr.code.leftover")).to_have_count(2)

    # The confirmation names each door and code, masked but for the last digits.
    page.click("text=Remove every leftover…")
    doors = page.locator(".confirm-door")
    expect(doors).to_have_count(2)
    expect(doors.filter(has_text="Fake August Lock 1")).to_contain_text("Old PMS 1 ••••04")
    expect(doors.filter(has_text="Fake August Lock 2")).to_contain_text("Old PMS 2 ••••05")
    expect(page.locator("body")).not_to_contain_text("Cleaner Ana")
    assert not LeftoverRemoval.objects.exists()  # nothing removed before the confirmation
    page.click("input[value='Yes, remove these codes']")

    expect(page.locator(".messagelist")).to_contain_text("Removing 2 leftover codes")
    removals = page.locator("#removals tr.removal")
    expect(removals).to_have_count(2)
    expect(removals.filter(has_text="Old PMS 1")).to_contain_text("Removed (confirmed gone)")
    expect(removals.filter(has_text="Old PMS 2")).to_contain_text("alpha-manager")
    expect(page.locator("tr.code")).to_have_count(1)  # Cleaner Ana's, untouched
    left = {
        c.name
        for device_id in ("august_device_1", "august_device_2", "keystay_lock_low_battery")
        for c in wired.seam.access_codes.unmanaged.list(device_id=device_id)
    }
    assert left == {"Cleaner Ana"}
