"""Swagger UI and ReDoc render in headless Chromium with every request that would leave the
machine blocked: the API docs need no internet, and send no request to another host.

What their scripts would fetch by themselves (ReDoc's Redocly logo, from its CDN) is
refused by the pages' Content-Security-Policy before any request is made.
"""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)

# The viewers parse the whole schema in the page (ReDoc's bundle alone is 1 MB): on a busy
# machine that takes longer than Playwright's default five seconds.
RENDERED = 30_000


class Offline:
    """The page reaches the live server alone: every other request is aborted and noted."""

    def __init__(self, page, live_server):
        self.left: list[str] = []  # requests that tried to leave the machine
        self.refused: list[str] = []  # what the page's policy stopped before any request
        page.on("console", self._console)
        page.route("**/*", lambda route: self._route(route, live_server.url))

    def _route(self, route, origin: str) -> None:
        url = route.request.url
        if url.startswith((origin, "data:", "blob:")):
            route.continue_()
        else:
            self.left.append(url)
            route.abort("internetdisconnected")

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.refused.append(message.text)


def test_swagger_ui_renders_with_no_internet(page, live_server):
    offline = Offline(page, live_server)
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text(
        "Keystay API", timeout=RENDERED
    )
    # The operations are listed from the schema: the viewer really ran.
    operation = page.locator(".opblock-summary-path", has_text="/api/v1/reservations/")
    expect(operation.first).to_be_visible(timeout=RENDERED)
    assert offline.left == [] and offline.refused == []


def test_redoc_renders_with_no_internet(page, live_server):
    offline = Offline(page, live_server)
    page.goto(f"{live_server.url}/api/redoc/")
    expect(page.locator("h1").first).to_contain_text("Keystay API", timeout=RENDERED)
    expect(page.get_by_text("/api/v1/reservations/").first).to_be_attached(timeout=RENDERED)
    page.wait_for_load_state("networkidle")
    assert offline.left == []
    # Only ReDoc's own logo was kept from loading from its CDN: nothing it needs.
    assert all("cdn.redoc.ly" in text and "img-src" in text for text in offline.refused)
