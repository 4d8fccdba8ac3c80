"""An invited person joins in a real browser (headless Chromium): with the account they
have, with one they create on the page, and after signing out of the wrong one.

Every form of the page is a POST checked against CSRF by its Origin: these tests fail if
the page makes the browser send `Origin: null` (a no-referrer policy does), which Django's
test client never shows. The link's token leaves the address bar on the first visit and
travels in no Referer.
"""

import pathlib
import re

import pytest
from django.conf import settings
from playwright.sync_api import expect

from properties import services
from properties.models import Invitation, Membership
from tests.e2e.browser import sign_in
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = pathlib.Path(settings.BASE_DIR) / "test-results/screenshots"


def invitation_link(org, live_server, email, role="staff") -> str:
    return services.invitation_create(
        organization=org.organization,
        email=email,
        role=role,
        invited_by=org.manager,
        base_url=live_server.url,
    ).link


class Traffic:
    """What the browser sent: each request's URL, Referer and Origin."""

    def __init__(self, page):
        self.requests = []
        page.on("request", lambda request: self.requests.append(request))

    def referers(self) -> list[str]:
        return [r.headers.get("referer", "") for r in self.requests]

    def post_origins(self) -> list[str]:
        return [r.headers.get("origin", "") for r in self.requests if r.method == "POST"]


def token_of(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[1]


def assert_token_stayed_private(page, traffic: Traffic, link: str, live_server) -> None:
    token = token_of(link)
    assert token not in page.url
    assert all(token not in referer for referer in traffic.referers())
    # Each POST carried the page's own origin, so CSRF's origin check could pass.
    assert traffic.post_origins()
    assert set(traffic.post_origins()) == {live_server.url}


def test_manager_invites_and_the_person_signs_in_with_their_account(browser, live_server, org_a):
    UserFactory(username="bo", email="bo@example.com", is_staff=False)

    # The manager invites in the admin and copies the link shown once.
    manager = browser.new_context()
    manager_page = manager.new_page()
    sign_in(manager_page, live_server, "alpha-manager")
    manager_page.goto(f"{live_server.url}/admin/properties/invitation/add/")
    manager_page.select_option("#id_organization", label="Alpha")
    manager_page.fill("#id_email", "bo@example.com")
    manager_page.click("input[name=_save]")
    shown = manager_page.locator(".messagelist code")
    expect(shown).to_have_count(1)
    link = shown.inner_text()
    assert re.fullmatch(rf"{re.escape(live_server.url)}/invitations/[\w-]+/", link)
    manager.close()

    invited = browser.new_context()
    page = invited.new_page()
    traffic = Traffic(page)
    page.goto(link)
    expect(page.locator("h1")).to_have_text("Join Alpha")
    assert page.url == f"{live_server.url}/invitations/"
    expect(page.locator("body")).to_contain_text("You have an account with this address")
    expect(page.get_by_role("button", name="Create account and accept")).to_have_count(0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "invitation-page.png"), full_page=True)

    page.fill("#id_username", "bo")
    page.fill("#id_password", "pw-for-tests")
    page.get_by_role("button", name="Sign in and accept").click()

    expect(page.locator(".messagelist")).to_contain_text("Welcome to Alpha: you are a staff")
    expect(page.locator("#user-tools")).to_contain_text("bo")
    assert Membership.objects.get(user__username="bo").organization == org_a.organization
    assert_token_stayed_private(page, traffic, link, live_server)
    invited.close()


def test_a_new_person_creates_an_account_and_joins(browser, live_server, org_a):
    link = invitation_link(org_a, live_server, "cleo@example.com", role="manager")
    context = browser.new_context()
    page = context.new_page()
    traffic = Traffic(page)
    page.goto(link)
    expect(page.locator("h1")).to_have_text("Join Alpha")

    page.fill("#id_sign_up_username", "cleo")
    page.fill("#id_sign_up_password1", "lantern-harbour-42")
    page.fill("#id_sign_up_password2", "lantern-harbour-42")
    page.get_by_role("button", name="Create account and accept").click()

    expect(page.locator(".messagelist")).to_contain_text("Welcome to Alpha: you are a manager")
    expect(page.locator("#user-tools")).to_contain_text("cleo")
    membership = Membership.objects.get(user__username="cleo")
    assert (membership.organization, membership.role) == (org_a.organization, "manager")
    assert membership.user.email == "cleo@example.com"
    assert_token_stayed_private(page, traffic, link, live_server)
    context.close()


def test_signed_in_as_someone_else_the_person_signs_out_then_joins(
    browser, live_server, org_a, org_b
):
    UserFactory(username="eve", email="eve@example.com", is_staff=False)
    link = invitation_link(org_a, live_server, "eve@example.com")
    context = browser.new_context()
    page = context.new_page()
    traffic = Traffic(page)
    sign_in(page, live_server, "bravo-manager")  # a shared computer, say
    page.goto(link)
    expect(page.locator(".problem")).to_contain_text("This invitation is for eve@example.com")

    page.get_by_role("button", name="Sign out of bravo-manager").click()

    # Signed out, on the same invitation, which now offers to sign in.
    expect(page.locator("h1")).to_have_text("Join Alpha")
    expect(page.get_by_role("button", name="Sign in and accept")).to_be_visible()
    assert page.url == f"{live_server.url}/invitations/"
    page.fill("#id_username", "eve")
    page.fill("#id_password", "pw-for-tests")
    page.get_by_role("button", name="Sign in and accept").click()

    expect(page.locator(".messagelist")).to_contain_text("Welcome to Alpha")
    assert Membership.objects.filter(user__username="eve", organization=org_a.organization)
    assert not Membership.objects.filter(
        user__username="bravo-manager", organization=org_a.organization
    ).exists()
    assert Invitation.objects.get().accepted_by.username == "eve"
    assert_token_stayed_private(page, traffic, link, live_server)
    context.close()
