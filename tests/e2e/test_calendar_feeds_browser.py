"""A manager adds a calendar feed to a listing in a real browser, sees its stays arrive,
and is asked before saving a stay that double-books one of them."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.calendar_feeds import ics
from tests.calendar_feeds.server import CalendarServer
from tests.e2e.browser import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def channel(settings):
    settings.KEYSTAY_OUTBOUND_ALLOW_HTTP = True
    settings.KEYSTAY_OUTBOUND_ALLOW_PRIVATE = True
    server = CalendarServer()
    yield server
    server.stop()


def test_a_feed_added_in_the_listing_admin_brings_its_stays_and_flags_an_overlap(
    page, live_server, org_a, channel
):
    zone = org_a.property.zone
    today = timezone.localdate(timezone=zone)
    start, end = today + datetime.timedelta(days=20), today + datetime.timedelta(days=23)
    url = channel.serve(
        "/ical/secret-7b2e.ics",
        ics.airbnb(
            ics.airbnb_booking(start, end, code="HMBROWSER1", phone="3344"),
            ics.airbnb_block(
                today + datetime.timedelta(days=30), today + datetime.timedelta(days=32), uid="blk"
            ),
        ),
    )
    sign_in(page, live_server, "alpha-manager")
    page.goto(f"{live_server.url}/admin/properties/listing/{org_a.listing.pk}/change/")
    page.click("text=Add another calendar feed")
    row = page.locator(".dynamic-calendar_feeds").last
    row.locator("select[name$='-channel']").select_option("airbnb")
    row.locator("input[name$='-url']").fill(url)
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    # Read at once: the feed's health and counts are on the listing page, the link is not.
    feeds = page.locator(".inline-group", has_text="calendar feed")
    expect(feeds).to_contain_text("1 new")
    expect(feeds).to_contain_text("ok")
    expect(page.locator("body")).not_to_contain_text("secret-7b2e")

    page.goto(f"{live_server.url}/admin/reservations/reservation/?q=HMBROWSER1")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Airbnb guest")

    # A stay typed by hand on the same nights: the admin asks first.
    page.goto(f"{live_server.url}/admin/reservations/reservation/add/")
    page.locator(".field-listing .select2-selection").click()
    page.locator(".select2-search__field").fill("Alpha")
    page.locator(".select2-results__option", has_text="Alpha Flat").click()
    page.fill("#id_guest_name", "Walk-in Guest")
    page.fill("#id_check_in_0", f"{start + datetime.timedelta(days=1):%Y-%m-%d}")
    page.fill("#id_check_in_1", "15:00")
    page.fill("#id_check_out_0", f"{end + datetime.timedelta(days=1):%Y-%m-%d}")
    page.fill("#id_check_out_1", "11:00")
    page.select_option("#id_status", "confirmed")
    page.click("input[name=_save]")
    expect(page.locator(".errorlist").first).to_contain_text("overlaps another confirmed stay")
    page.check("#id_accept_double_booking")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("Double booking: overlaps Airbnb guest")
    page.goto(f"{live_server.url}/admin/dashboard/")
    expect(page.locator("#double-bookings")).to_contain_text("Walk-in Guest")
