"""The listing import's and export's calendar_feeds column, through the admin's screens:
links exported masked, an export re-imported changes nothing, a new link is a new feed
(read at once), and a bad link is its row's error with nothing written."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from calendar_feeds.models import CalendarFeed
from properties.models import Listing
from reservations.models import Reservation

from . import ics

pytestmark = pytest.mark.django_db

IMPORT_URL = reverse("admin:properties_listing_import")
PROCESS_URL = reverse("admin:properties_listing_process_import")
EXPORT_URL = reverse("admin:properties_listing_export")
SECRET = "/ical/7f3a9c-secret-token-beef.ics"


def export_csv(client) -> tuple[str, list[dict]]:
    response = client.post(EXPORT_URL, {"format": "csv"})
    assert response.status_code == 200
    text = response.content.decode("utf-8-sig")
    return text, list(csv.DictReader(io.StringIO(text)))


def csv_bytes(rows: list[dict]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def preview(client, data: bytes):
    upload = SimpleUploadedFile("listings.csv", data)
    return client.post(IMPORT_URL, {"import_file": upload, "format": "csv"})


def confirm(client, previewed, capture):
    with capture(execute=True):
        response = client.post(
            PROCESS_URL, {"key": previewed.context["upload_key"], "confirm": "Confirm import"}
        )
    assert response.status_code == 302
    return response


@pytest.fixture
def feed(org_a, make_feed, day):
    body = ics.airbnb(ics.airbnb_booking(day(5), day(8), code="HMIMPORT01"))
    return make_feed(org_a.listing, "airbnb", SECRET, body)


def test_the_export_shows_each_feed_masked_never_its_link(manager_client, org_a, feed):
    text, rows = export_csv(manager_client)
    assert "secret-token" not in text and feed.url not in text
    (row,) = [row for row in rows if row["name"] == org_a.listing.name]
    assert row["calendar_feeds"] == "airbnb:127.0.0.1/….ics"


def test_an_export_reimported_leaves_the_feed_as_it_was(
    manager_client, org_a, feed, django_capture_on_commit_callbacks
):
    before = CalendarFeed.objects.values().get(pk=feed.pk)
    _text, rows = export_csv(manager_client)
    previewed = preview(manager_client, csv_bytes(rows))
    assert previewed.context["problems"] == []
    assert previewed.context["plan"].totals()["update"] == 0
    confirm(manager_client, previewed, django_capture_on_commit_callbacks)
    assert list(CalendarFeed.objects.values()) == [before]  # not rewritten, not lost
    assert CalendarFeed.objects.get().url == feed.url


def test_a_new_link_in_the_column_adds_a_feed_read_at_once(
    manager_client, org_a, calendars, day, django_capture_on_commit_callbacks
):
    url = calendars.serve(
        "/vrbo/new-secret-0042.ics",
        ics.airbnb(ics.airbnb_booking(day(9), day(12), code="HMNEW0042")),
    )
    _text, rows = export_csv(manager_client)
    for row in rows:
        if row["name"] == org_a.listing.name:
            row["calendar_feeds"] = f"airbnb:{url}"
    rows.append(
        {**rows[0], "external_id": "NEW-1", "name": "Brand new flat", "calendar_feeds": ""}
    )
    previewed = preview(manager_client, csv_bytes(rows))
    assert previewed.context["problems"] == []
    page = previewed.content.decode()
    assert "new-secret" not in page  # the preview shows the link masked too
    assert "airbnb:127.0.0.1/….ics" in page
    confirm(manager_client, previewed, django_capture_on_commit_callbacks)
    feed = CalendarFeed.objects.get(listing=org_a.listing)
    assert (feed.channel, feed.url, feed.organization_id) == ("airbnb", url, org_a.organization.pk)
    # Read once the import committed: its booking is a stay.
    assert Reservation.objects.filter(listing=org_a.listing, external_id="HMNEW0042").exists()
    assert not CalendarFeed.objects.filter(listing__external_id="NEW-1").exists()


def test_a_new_listing_gets_its_feed_too(
    manager_client, org_a, calendars, day, django_capture_on_commit_callbacks
):
    url = calendars.serve("/b.ics", ics.airbnb())
    _text, rows = export_csv(manager_client)
    rows = [{**rows[0], "external_id": "NEW-2", "name": "Flat 2", "calendar_feeds": f"vrbo:{url}"}]
    confirm(
        manager_client,
        preview(manager_client, csv_bytes(rows)),
        django_capture_on_commit_callbacks,
    )
    feed = CalendarFeed.objects.get(listing__external_id="NEW-2")
    assert (feed.channel, feed.url) == ("vrbo", url)


@pytest.mark.parametrize(
    ("cell", "says"),
    [
        ("airbnb:http://169.254.169.254/latest/meta-data.ics", "169.254.169.254"),
        ("https://www.airbnb.com/calendar/ical/1.ics", "channel before its link"),
        ("myspace:https://example.com/1.ics", "channel before its link"),
        ("airbnb:www.airbnb.com/…abcd", "masked link"),
    ],
)
def test_a_bad_feed_cell_is_its_rows_error_and_nothing_is_written(
    manager_client, org_a, feed, cell, says
):
    _text, rows = export_csv(manager_client)
    rows.append({**rows[0], "external_id": "NEW-3", "name": "Flat 3", "calendar_feeds": ""})
    for row in rows:
        if row["name"] == org_a.listing.name:
            row["calendar_feeds"] = cell
            row["check_in_time"] = "11:00"  # a change the refused file must not write
    previewed = preview(manager_client, csv_bytes(rows))
    problems = previewed.context["problems"]
    assert [(p.row, p.column) for p in problems] == [(2, "calendar_feeds")]
    assert says in problems[0].message
    assert "upload_key" not in previewed.context
    assert Listing.objects.filter(external_id="NEW-3").count() == 0
    assert CalendarFeed.objects.count() == 1
