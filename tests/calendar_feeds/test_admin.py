"""Feeds in the admin: added inline on the listing, the link never shown back, health
columns, "Sync now", and organization scoping."""

from __future__ import annotations

import pytest
from django.urls import reverse

from calendar_feeds.models import CalendarFeed
from calendar_feeds.services import feed_sync
from reservations.models import Reservation
from tests.properties.test_roles import listing_post

from . import ics

pytestmark = pytest.mark.django_db


def feeds_post(org, *rows, initial=0):
    data = listing_post(org)
    data["calendar_feeds-TOTAL_FORMS"] = str(len(rows))
    data["calendar_feeds-INITIAL_FORMS"] = str(initial)
    for n, row in enumerate(rows):
        for name, value in row.items():
            data[f"calendar_feeds-{n}-{name}"] = value
        data[f"calendar_feeds-{n}-listing"] = org.listing.pk
    return data


def test_a_manager_adds_a_feed_inline_and_its_link_is_never_shown_again(
    manager_client, org_a, calendars, day, django_capture_on_commit_callbacks
):
    url = calendars.serve(
        "/secret-token-abcd.ics",
        ics.airbnb(ics.airbnb_booking(day(5), day(8), code="HMADMIN001")),
    )
    page = reverse("admin:properties_listing_change", args=[org_a.listing.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(
            page,
            feeds_post(
                org_a,
                {"channel": "airbnb", "url": url, "events_rule": "channel", "active": "on"},
            ),
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    feed = CalendarFeed.objects.get(listing=org_a.listing)
    assert feed.url == url
    assert url not in feed.url_ciphertext
    # Read at once (the task ran on commit): the booking is a stay already.
    assert Reservation.objects.filter(external_id="HMADMIN001").exists()
    shown = manager_client.get(page).content.decode()
    assert "secret-token" not in shown
    assert feed.masked_url == "127.0.0.1/….ics" and feed.masked_url in shown
    listing_page = manager_client.get(reverse("admin:calendar_feeds_calendarfeed_changelist"))
    assert "secret-token" not in listing_page.content.decode()
    assert "ok" in listing_page.content.decode()


def test_a_feed_link_to_a_metadata_address_is_refused_with_a_field_message(manager_client, org_a):
    page = reverse("admin:properties_listing_change", args=[org_a.listing.pk])
    response = manager_client.post(
        page,
        feeds_post(
            org_a,
            {
                "channel": "airbnb",
                "url": "https://169.254.169.254/latest/meta-data/",
                "events_rule": "channel",
                "active": "on",
            },
        ),
    )
    assert response.status_code == 200
    assert "cloud metadata" in response.content.decode()
    assert not CalendarFeed.objects.exists()


def test_saving_the_listing_with_an_empty_link_keeps_the_feeds_link(
    manager_client, org_a, make_feed, day
):
    feed = make_feed(org_a.listing, "vrbo", "/v.ics", ics.vrbo())
    original = feed.url
    page = reverse("admin:properties_listing_change", args=[org_a.listing.pk])
    response = manager_client.post(
        page,
        feeds_post(
            org_a,
            {"id": feed.pk, "channel": "vrbo", "url": "", "events_rule": "stays", "active": "on"},
            initial=1,
        ),
    )
    assert response.status_code == 302
    feed.refresh_from_db()
    assert feed.url == original and feed.events_rule == "stays"


def test_sync_now_reads_the_calendar_and_reports(manager_client, org_a, make_feed, day):
    feed = make_feed(
        org_a.listing,
        "airbnb",
        "/a.ics",
        ics.airbnb(ics.airbnb_booking(day(5), day(8), code="HMSYNCNOW1")),
    )
    response = manager_client.post(
        reverse("admin:calendar_feeds_calendarfeed_changelist"),
        {"action": "sync_now", "_selected_action": [feed.pk]},
        follow=True,
    )
    assert "1 new" in response.content.decode()
    assert Reservation.objects.filter(external_id="HMSYNCNOW1").exists()


def test_staff_cannot_sync_or_add_feeds(staff_client, org_a, make_feed, day):
    feed = make_feed(org_a.listing, "airbnb", "/a.ics", ics.airbnb())
    staff_client.post(
        reverse("admin:calendar_feeds_calendarfeed_changelist"),
        {"action": "sync_now", "_selected_action": [feed.pk]},
    )
    feed.refresh_from_db()
    assert feed.last_fetch_at is None
    assert staff_client.get(reverse("admin:calendar_feeds_calendarfeed_add")).status_code == 403


def test_another_organizations_feeds_are_invisible(client, org_a, org_b, make_feed):
    feed = make_feed(org_b.listing, "airbnb", "/b.ics", ics.airbnb())
    client.force_login(org_a.manager)
    assert (
        client.get(reverse("admin:calendar_feeds_calendarfeed_change", args=[feed.pk])).status_code
        == 404
    )
    changelist = client.get(reverse("admin:calendar_feeds_calendarfeed_changelist"))
    assert "Bravo Flat" not in changelist.content.decode()
    # The add form offers (and accepts) only the manager's own listings.
    response = client.post(
        reverse("admin:calendar_feeds_calendarfeed_add"),
        {
            "listing": org_b.listing.pk,
            "channel": "airbnb",
            "url": "http://127.0.0.1:9/x.ics",
            "events_rule": "channel",
            "active": "on",
        },
    )
    assert response.status_code == 200
    assert CalendarFeed.objects.filter(listing=org_b.listing).count() == 1


def test_the_dashboard_shows_a_failing_feed_and_the_reservation_page_its_source(
    manager_client, org_a, org_b, make_feed, calendars, day
):
    feed = make_feed(
        org_a.listing,
        "airbnb",
        "/a.ics",
        ics.airbnb(ics.airbnb_booking(day(5), day(8), code="HMSOURCE01")),
    )
    feed_sync(feed_id=feed.pk)
    other = make_feed(org_b.listing, "vrbo", "/b.ics", "<html>nope</html>")
    feed_sync(feed_id=other.pk)
    stay = Reservation.objects.get(external_id="HMSOURCE01")
    page = manager_client.get(
        reverse("admin:reservations_reservation_change", args=[stay.pk])
    ).content.decode()
    assert "Airbnb calendar of Alpha Flat" in page
    timeline = manager_client.get(
        reverse("listing_timeline", args=[org_a.listing.pk])
    ).content.decode()
    assert "From Airbnb calendar" in timeline
    calendars.serve("/a.ics", "Internal error", status=500)
    feed_sync(feed_id=feed.pk)
    dashboard = manager_client.get(reverse("dashboard")).content.decode()
    assert "Calendar feeds failing (1)" in dashboard
    assert "HTTP 500" in dashboard
    assert "Bravo" not in dashboard
