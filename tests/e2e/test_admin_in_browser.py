"""A manager signs in with a real browser and works inside their organization."""

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_manager_signs_in_and_sees_only_their_listings(page, live_server, org_a, org_b):
    sign_in(page, live_server, "alpha-manager")
    page.click("text=Listings")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Alpha Flat")
    expect(rows.first).to_contain_text("Alpha Front Door")
    expect(page.locator("body")).not_to_contain_text("Bravo")


def test_second_primary_lock_shows_a_clear_error_in_the_page(page, live_server, org_a):
    from tests.factories import DeviceFactory

    DeviceFactory(connection=org_a.device.connection, name="Alpha Back Door")
    sign_in(page, live_server, "alpha-manager")
    page.goto(f"{live_server.url}/admin/properties/listing/{org_a.listing.pk}/change/")
    page.click("text=Add another Lock assignment")
    new_row = page.locator("tr.dynamic-assignments").last
    # The device field is an autocomplete (select2): open it, type, pick.
    new_row.locator(".select2-selection").click()
    page.locator(".select2-search__field").fill("Back")
    page.locator(".select2-results__option", has_text="Alpha Back Door").click()
    new_row.locator("select[name$='-role']").select_option("primary")
    page.click("input[name=_save]")
    expect(page.locator(".errorlist").first).to_contain_text(
        "This listing already has a primary lock."
    )
    assert org_a.listing.assignments.count() == 1
