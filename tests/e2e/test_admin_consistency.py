"""The admin feels finished, in headless Chromium: the reservations list fits a 1,366-pixel
screen, times read one way with their zone, the browser's offset from the server is not
shown (the property's zone is), there is an icon, "View site" opens the dashboard, and the
import preview keeps the lock columns in view."""

import datetime
import pathlib

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from locks.models import LockAssignment
from properties.models import Property
from reservations import services
from reservations.models import LockAccess, Reservation
from tests.e2e.browser import sign_in
from tests.factories import DeviceFactory, ListingFactory, LockAssignmentFactory

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = pathlib.Path(settings.BASE_DIR) / "test-results/screenshots"

GUESTS = [
    "Maria Fernanda Albuquerque da Silva",
    "Jean-Baptiste Delacroix-Montgomery",
    "Anna Kowalczyk",
    "Oluwaseun Adebayo-Williams",
    "Li Wei",
    "Siobhán Ní Bhriain",
    "Konstantinos Papadopoulos",
    "Ana",
    "Aleksandra Wiśniewska-Nowak",
    "Guðrún Sigurðardóttir",
    "Francesca Bianchi",
    "Hiroshi Takahashi",
]


def many_stays(org) -> list[Reservation]:
    """A busy list: long guest, listing and property names, two zones, every lock state."""
    far = Property.objects.create(
        organization=org.organization,
        name="Harbour View Residences, Ponta Delgada",
        address="2 Rua do Porto",
        time_zone="Atlantic/Azores",
    )
    listings = [
        org.listing,
        ListingFactory(property=org.property, name="Seaside Apartment 3B with Garden View"),
        ListingFactory(property=far, name="Penthouse Suite Atlântico (top floor)"),
    ]
    for listing in listings[1:]:
        door = DeviceFactory(connection=org.device.connection, name=f"Front door of {listing}")
        LockAssignmentFactory(listing=listing, device=door, role=LockAssignment.Role.PRIMARY)
    start = timezone.now() + datetime.timedelta(days=3)
    stays = []
    for n, guest in enumerate(GUESTS):
        listing = listings[n % 3]
        check_in = start + datetime.timedelta(days=4 * n)
        stays.append(
            services.reservation_create(
                listing=listing,
                guest_name=guest,
                guest_email=f"guest{n}@example.com",
                check_in=check_in,
                check_out=check_in + datetime.timedelta(days=3),
                status=Reservation.Status.CONFIRMED,
                source="booking.com" if n % 2 else "airbnb-channel-manager",
                external_id=f"HMABCDEF{n:04d}-XYZ",
            )
        )
    states = [LockAccess.State.CONFIRMED, LockAccess.State.REQUESTED, LockAccess.State.FAILED]
    for n, stay in enumerate(stays):
        stay.lock_accesses.update(state=states[n % 3])
    return stays


def test_the_reservations_list_fits_a_1366_pixel_screen(page, live_server, org_a):
    many_stays(org_a)
    page.set_viewport_size({"width": 1366, "height": 768})
    sign_in(page, live_server, "alpha-manager")
    page.goto(f"{live_server.url}/admin/reservations/reservation/")
    expect(page.locator("#result_list tbody tr")).to_have_count(len(GUESTS) + 1)
    expect(page.locator("#changelist-filter")).to_be_visible()  # the filters beside it
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the list is {overflow}px wider than the screen"
    # Nor does the list inside its own box (the admin scrolls a wide one sideways there).
    hidden = page.locator("#changelist .results").evaluate("el => el.scrollWidth - el.clientWidth")
    assert hidden <= 0, f"{hidden}px of the list are scrolled out of view"
    expect(page.locator("#result_list thead th").last).to_be_in_viewport(ratio=1)
    # One way to write a time, with the zone named: each stay in its property's zone.
    azores = Reservation.objects.get(
        listing__property__time_zone="Atlantic/Azores", guest_name=GUESTS[2]
    )
    row = page.locator("#result_list tbody tr", has_text=GUESTS[2])
    expect(row.locator("td.field-stay")).to_contain_text(
        timezone.localtime(azores.check_in, azores.listing.property.zone).strftime(
            "%Y-%m-%d %H:%M %Z"
        )
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "reservations-list.png"), full_page=False)


def test_the_reservation_page_names_the_propertys_zone_not_the_servers_offset(
    browser, live_server, org_a
):
    # A manager whose laptop is in New York, for a property in Lisbon.
    context = browser.new_context(timezone_id="America/New_York")
    page = context.new_page()
    try:
        sign_in(page, live_server, "alpha-manager")
        reservation = org_a.reservation
        page.goto(f"{live_server.url}/admin/reservations/reservation/{reservation.pk}/change/")
        check_in = page.locator(".form-row.field-check_in")
        expect(check_in).to_contain_text("Times in Europe/Lisbon")
        expect(check_in.locator(".datetimeshortcuts").first).to_be_visible()  # the widget ran
        # Django wrote its note (New York is hours behind Lisbon)…
        warnings = page.locator(".timezonewarning")
        expect(warnings.first).to_contain_text("server time")
        # …and none of it is shown.
        assert page.evaluate(
            "() => [...document.querySelectorAll('.timezonewarning')]"
            ".every(note => note.offsetParent === null)"
        )
        expect(page.get_by_text("server time").first).to_be_hidden()

        # An icon, served.
        icon = page.locator("link[rel=icon]").get_attribute("href")
        assert page.request.get(f"{live_server.url}{icon}").ok
        assert page.request.get(f"{live_server.url}/favicon.ico").ok

        # "View site" opens the dashboard.
        page.locator("#user-tools a", has_text="View site").click()
        expect(page).to_have_url(f"{live_server.url}/admin/dashboard/")
        expect(page.locator("#zones")).to_contain_text("Europe/Lisbon")
    finally:
        context.close()


def test_the_import_preview_keeps_the_lock_columns_in_view(page, live_server, org_a):
    header = (
        "property,time_zone,name,external_id,check_in_time,check_out_time,"
        "code_lead_time_minutes,code_length,active,primary_lock,secondary_locks,"
        "locks_without_guest_access\r\n"
    )
    rows = "".join(
        f"Alpha House,Europe/Lisbon,Seaside Apartment number {n} with a long name,"
        f"EXTERNAL-ID-{n:05d}-LONG,15:00,11:00,1440,6,yes,Alpha Front Door,,\r\n"
        for n in range(40)
    )
    page.set_viewport_size({"width": 1366, "height": 768})
    sign_in(page, live_server, "alpha-manager")
    page.goto(f"{live_server.url}/admin/properties/listing/import/")
    page.set_input_files(
        "#id_import_file",
        files=[{"name": "l.csv", "mimeType": "text/csv", "buffer": (header + rows).encode()}],
    )
    page.click("input[type=submit][value=Submit]")
    preview = page.locator(".listing-import-preview")
    expect(preview.locator("tbody tr")).to_have_count(40)
    box = preview.bounding_box()
    # The lock columns, right after the listing's name, are on screen without scrolling.
    for column in ("primary_lock", "secondary_locks"):
        th = preview.locator("thead th", has_text=column)
        cell = th.bounding_box()
        assert cell["x"] + cell["width"] <= box["x"] + box["width"], f"{column} off screen"
    # The page itself does not scroll sideways: the preview does, inside its box…
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    # …and scrolled to its far right and bottom, each row's number and the header stay.
    preview.evaluate("el => { el.scrollLeft = el.scrollWidth; el.scrollTop = el.scrollHeight; }")
    first_cell = preview.locator("tbody tr").last.locator("td.row-number").bounding_box()
    assert abs(first_cell["x"] - box["x"]) < 3
    header_box = preview.locator("thead th").first.bounding_box()
    assert abs(header_box["y"] - box["y"]) < 3


def test_the_export_offers_csv_first_and_chosen(page, live_server, org_a):
    sign_in(page, live_server, "alpha-manager")
    page.goto(f"{live_server.url}/admin/properties/listing/export/")
    expect(page.locator("#id_format option:checked")).to_have_text("CSV")
