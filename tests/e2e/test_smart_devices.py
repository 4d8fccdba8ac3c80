"""A manager connects a Seam workspace, imports its locks and assigns them in a browser."""

import re

import pytest
from playwright.sync_api import expect

from locks.models import LockProviderConnection
from tests.e2e.browser import sign_in
from tests.factories import ListingFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_manager_connects_imports_and_assigns_locks(page, live_server, org_a, fake_seam):
    fake_seam.reset()
    ListingFactory(property=org_a.property, name="Alpha Loft")  # no lock yet

    sign_in(page, live_server, "alpha-manager")
    page.click("#keystay-settings >> text=Smart Devices")
    expect(page.locator("h1")).to_have_text("Smart Devices")

    form = page.locator("#add-connection")
    form.get_by_label("Name").fill("Harbour Seam")
    form.get_by_label("API key").fill(fake_seam.api_key)
    form.get_by_label("Endpoint").fill(fake_seam.url)
    form.locator("input[type=submit]").click()

    expect(page.locator(".messagelist")).to_contain_text("Connected to workspace")
    # The import ran inside the request: on_commit fires at once in autocommit, and
    # django-q2 runs tasks inline under test settings.
    connection = LockProviderConnection.objects.get(name="Harbour Seam")
    assert connection.sync_state == LockProviderConnection.SyncState.OK
    section = page.locator(f"#connection-{connection.pk}")
    expect(section.locator(".sync-state")).to_contain_text("Imported")
    expect(page.locator('meta[http-equiv="refresh"]')).to_have_count(0)
    for name in ("Garden Gate", "Side Door", "Pool House", "Building Front Entrance"):
        expect(section.locator("tr.device", has_text=name)).to_have_count(1)
    expect(section.locator("tr.device", has_text="Garden Gate")).to_contain_text("82%")
    expect(section.locator("tr.device", has_text="Pool House")).to_contain_text("offline")
    expect(section).not_to_contain_text(fake_seam.api_key)

    # Garden Gate: the primary lock, guests' codes on it (the default).
    section.locator("tr.device", has_text="Garden Gate").locator("input[type=checkbox]").check()
    section.get_by_label("Listing").select_option(label="Alpha Loft (Alpha House)")
    section.get_by_label("Role").select_option("primary")
    expect(section.get_by_label("Guest access")).to_be_checked()
    section.locator("input[value='Assign ticked devices']").click()
    expect(page.locator(".messagelist")).to_contain_text(
        "Assigned Garden Gate to Alpha Loft as primary (guest codes on)."
    )

    # Side Door: a secondary lock, without guests' codes.
    section = page.locator(f"#connection-{connection.pk}")
    section.locator("tr.device", has_text="Side Door").locator("input[type=checkbox]").check()
    section.get_by_label("Listing").select_option(label="Alpha Loft (Alpha House)")
    section.get_by_label("Role").select_option("secondary")
    section.get_by_label("Guest access").uncheck()
    section.locator("input[value='Assign ticked devices']").click()
    expect(page.locator(".messagelist")).to_contain_text(
        "Assigned Side Door to Alpha Loft as secondary (no guest codes)."
    )
    expect(section.locator("tr.device", has_text="Garden Gate")).to_contain_text(
        "Alpha Loft (primary)"
    )
    expect(section.locator("tr.device", has_text="Side Door")).to_contain_text(
        "Alpha Loft (secondary, no guest codes)"
    )

    # The listing's admin shows Garden Gate as its primary lock, and both assignments.
    page.goto(f"{live_server.url}/admin/properties/listing/")
    row = page.locator("#result_list tbody tr", has_text="Alpha Loft")
    expect(row).to_contain_text("Garden Gate")
    expect(row).to_contain_text("online, battery 82%")
    row.locator("th a", has_text="Alpha Loft").click()
    expect(page).to_have_url(re.compile(r"/admin/properties/listing/\d+/change/$"))
    inline = page.locator("#assignments-group")
    rows = inline.locator("tr.form-row.has_original")
    expect(rows).to_have_count(2)
    garden = rows.filter(has_text="Garden Gate")
    expect(garden.locator("select[name$='-role']")).to_have_value("primary")
    expect(garden.locator("input[name$='-guest_access']")).to_be_checked()
    side = rows.filter(has_text="Side Door")
    expect(side.locator("select[name$='-role']")).to_have_value("secondary")
    expect(side.locator("input[name$='-guest_access']")).not_to_be_checked()
