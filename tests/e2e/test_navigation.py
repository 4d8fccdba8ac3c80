"""A newcomer finds Keystay's own pages from any admin page: Dashboard, Activity, Smart
Devices, Timeline and the API docs are in the admin's header; a form that asks for an
organization has theirs chosen when they have only one."""

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_keystays_pages_are_in_the_admins_navigation(page, live_server, org_a, org_b):
    sign_in(page, live_server, org_a.manager.username)
    page.goto(f"{live_server.url}/admin/reservations/reservation/")
    nav = page.get_by_role("navigation", name="Keystay")
    for name, heading in (
        ("Dashboard", "Dashboard"),
        ("Activity", "Activity"),
        ("Smart Devices", "Smart Devices"),
    ):
        nav.get_by_role("link", name=name, exact=True).click()
        expect(page.locator("#content h1")).to_contain_text(heading)
        expect(nav.get_by_role("link", name=name, exact=True)).to_have_attribute(
            "aria-current", "page"
        )
    # One property: the timeline is that property's.
    nav.get_by_role("link", name="Timeline").click()
    expect(page.locator("#content h1")).to_have_text(f"Timeline of {org_a.property.name}")
    expect(page.locator("body")).not_to_contain_text(org_b.property.name)
    docs = nav.get_by_role("link", name="API docs")
    expect(docs).to_have_attribute("href", "/api/docs/")


def test_the_only_organization_is_preselected_on_a_form(page, live_server, org_a):
    sign_in(page, live_server, org_a.manager.username)
    page.goto(f"{live_server.url}/admin/guests/messagetemplate/add/")
    expect(page.locator("#id_organization")).to_have_value(str(org_a.organization.pk))
    page.goto(f"{live_server.url}/admin/properties/property/add/")
    expect(page.locator("#id_organization")).to_have_value(str(org_a.organization.pk))
