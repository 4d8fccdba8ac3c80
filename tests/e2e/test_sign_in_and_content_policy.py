"""A manager signs in with two-factor in headless Chromium (the code computed from their
authenticator's key) and opens Keystay's pages under its Content-Security-Policy: the
dashboard, a timeline, Smart Devices, the activity feed, admin lists and forms, the API's
browsable pages and docs — with no script or style refused, and no page left unstyled.
"""

import pytest
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from tests.properties.sign_in_paths import PASSWORD, current_code

pytestmark = pytest.mark.django_db(transaction=True)

# Runs in every page before its own scripts: violations are collected where they happen.
COLLECT_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  const where = (e.target && e.target.outerHTML || '').slice(0, 160);
  window.__violations.push(
    `${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber} ${where}`
  );
});
"""


class Watch:
    def __init__(self, page):
        self.page = page
        self.console: list[str] = []
        page.add_init_script(COLLECT_VIOLATIONS)
        page.on("console", self._console)

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            self.console.append(message.text)

    def visit(self, url: str, ready: str) -> None:
        response = self.page.goto(url)
        assert response.status == 200, url
        expect(self.page.locator(ready).first).to_be_visible(timeout=30_000)
        violations = self.page.evaluate("window.__violations")
        assert violations == [], (url, violations)
        assert self.console == [], (url, self.console)


def test_two_factor_sign_in_then_every_page_under_the_policy(page, live_server, org_a):
    device = TOTPDevice.objects.create(user=org_a.manager, name="Phone", confirmed=True)
    watch = Watch(page)

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", org_a.manager.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#id_token")).to_be_visible()
    assert watch.page.evaluate("window.__violations") == []
    page.fill("#id_token", current_code(device))
    page.click("#two-factor-form input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(org_a.manager.username)

    base = live_server.url
    watch.visit(f"{base}{reverse('dashboard')}", "#content")
    watch.visit(f"{base}{reverse('listing_timeline', args=[org_a.listing.pk])}", "#content")
    watch.visit(f"{base}{reverse('property_timeline', args=[org_a.property.pk])}", "#content")
    watch.visit(f"{base}/admin/smart-devices/", "h1")
    watch.visit(f"{base}{reverse('activity_feed')}", "#content")
    watch.visit(f"{base}/admin/", "#content")
    watch.visit(f"{base}/admin/reservations/reservation/", "#result_list")
    watch.visit(f"{base}/admin/reservations/reservation/{org_a.reservation.pk}/change/", "form")
    watch.visit(f"{base}/admin/properties/listing/{org_a.listing.pk}/change/", "form")
    watch.visit(f"{base}/admin/properties/failedsignin/", "#content")
    watch.visit(f"{base}{reverse('two_factor_setup')}", "#two-factor-state")
    watch.visit(f"{base}/api/v1/reservations/", ".response-info")
    watch.visit(f"{base}/api/docs/", ".swagger-ui .info .title")
    # (ReDoc is left out: its own policy refuses, on purpose, the logo its script fetches
    # from a CDN — tests/e2e/test_api_docs_offline.py.)

    # The admin's stylesheets applied (an unstyled page would pass the checks above).
    page.goto(f"{base}/admin/")
    header_color = page.locator("#header").evaluate("e => getComputedStyle(e).backgroundColor")
    assert header_color not in ("rgba(0, 0, 0, 0)", "transparent")
