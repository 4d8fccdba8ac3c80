"""A manager imports listings from a CSV file in a real browser: upload, preview, confirm."""

import pytest
from playwright.sync_api import expect

from properties.models import Listing
from tests.e2e.browser import sign_in

pytestmark = pytest.mark.django_db(transaction=True)

CSV = (
    "\ufeffproperty;time_zone;name;external_id;check_in_time;primary_lock\r\n"
    "Alpha House;Europe/Lisbon;Alpha Flat;{flat};16:00;Alpha Front Door\r\n"
    "Beach House;Europe/Madrid;Beach Room;BEACH-1;14:30;\r\n"
)


def test_manager_uploads_csv_sees_preview_confirms_and_finds_listings(page, live_server, org_a):
    sign_in(page, live_server, "alpha-manager")
    page.goto(f"{live_server.url}/admin/properties/listing/")
    page.click("a.import_link")

    page.set_input_files(
        "#id_import_file",
        files=[
            {
                "name": "listings.csv",
                "mimeType": "text/csv",
                "buffer": CSV.format(flat=org_a.listing.external_id).encode(),
            }
        ],
    )
    expect(page.locator("#id_format option:checked")).to_have_text("From the file name")
    page.click("input[type=submit][value=Submit]")

    preview = page.locator("#listing-import-preview tbody tr")
    expect(preview).to_have_count(2)
    expect(preview.nth(0)).to_contain_text("Update")
    expect(preview.nth(0)).to_contain_text("16:00")
    expect(preview.nth(1)).to_contain_text("New")
    expect(preview.nth(1)).to_contain_text("(new property)")
    expect(page.locator("#listing-import-summary")).to_contain_text("1 new, 1 to update")
    assert not Listing.objects.filter(external_id="BEACH-1").exists()  # not before confirm

    page.click("input[name=confirm]")

    expect(page.locator(".messagelist")).to_contain_text(
        "Import finished: 1 new, 1 updated, 0 unchanged listings."
    )
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#result_list")).to_contain_text("Beach Room")
    beach = Listing.objects.get(external_id="BEACH-1")
    assert beach.organization == org_a.organization
    assert beach.property.time_zone == "Europe/Madrid"


def test_bad_file_shows_problems_by_row_and_column(page, live_server, org_a):
    sign_in(page, live_server, "alpha-manager")
    page.goto(f"{live_server.url}/admin/properties/listing/import/")
    page.set_input_files(
        "#id_import_file",
        files=[
            {
                "name": "listings.csv",
                "mimeType": "text/csv",
                "buffer": b"property,name,external_id,check_in_time\nAlpha House,Loft,L-1,25:00\n",
            }
        ],
    )
    page.click("input[type=submit][value=Submit]")

    problem = page.locator("#listing-import-problems tbody tr")
    expect(problem).to_have_count(1)
    expect(problem).to_contain_text("2")
    expect(problem).to_contain_text("check_in_time")
    expect(problem).to_contain_text("“25:00” is not a time of day")
    expect(page.locator("input[name=confirm]")).to_have_count(0)
    assert not Listing.objects.filter(external_id="L-1").exists()
