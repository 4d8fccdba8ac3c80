"""Staff see a stay whose code the lock never confirmed at the top of the dashboard, reveal
the backup code pulled for it and acknowledge the alert, in headless Chromium."""

import pathlib

import pytest
from django.conf import settings
from playwright.sync_api import expect

from reservations.models import DeviceAlert
from tests.e2e.browser import sign_in
from tests.reservations.test_dashboard import backup_code_scenario

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOT = pathlib.Path(settings.BASE_DIR) / "test-results/screenshots/dashboard-prearrival.png"


def test_staff_reveal_the_backup_code_and_acknowledge_the_alert(page, live_server, wired):
    reservation, access = backup_code_scenario(wired)
    alert = DeviceAlert.objects.get(kind=DeviceAlert.Kind.PREARRIVAL_FAILED)

    sign_in(page, live_server, "alpha-staff")
    page.goto(f"{live_server.url}/admin/dashboard/")
    # The first sections: locks in trouble before an arrival, then codes not confirmed.
    modules = page.locator("#content-main > .module")
    expect(modules.nth(0)).to_have_attribute("id", "lock-health")
    expect(modules.nth(1)).to_have_attribute("id", "prearrival")
    section = page.locator("#prearrival")
    row = section.locator(f"tr[data-alert='{alert.pk}']")
    expect(row).to_contain_text("Pre Arrival Guest")
    expect(row).to_contain_text(access.device.name)
    expect(row).to_contain_text("Backup code ready")

    code = row.locator(".ks-backup-code")
    expect(code).to_be_hidden()  # behind a click
    row.locator("details.ks-backup summary").click()
    expect(code).to_be_visible()
    assert code.inner_text().strip() == access.backup_code

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    row.get_by_role("button", name="Acknowledge").click()
    expect(page.locator(".messagelist")).to_contain_text("Alert acknowledged")
    expect(page.locator(f"#prearrival tr[data-alert='{alert.pk}']")).to_contain_text(
        "by alpha-staff"
    )
    alert.refresh_from_db()
    assert alert.acknowledged_by.username == "alpha-staff"
    assert reservation.guest_name == "Pre Arrival Guest"
