"""Calendar feeds through the REST API: scoped, the link write-only, sync on demand."""

from __future__ import annotations

import pytest

from calendar_feeds.models import CalendarFeed
from reservations.models import Reservation

from . import ics

pytestmark = pytest.mark.django_db

FEEDS = "/api/v1/calendar-feeds/"


def test_a_manager_adds_a_feed_and_never_reads_its_link_back(
    client, org_a, calendars, day, django_capture_on_commit_callbacks
):
    url = calendars.serve(
        "/token-9f8e.ics", ics.airbnb(ics.airbnb_booking(day(5), day(8), code="HMAPIFEED1"))
    )
    client.force_login(org_a.manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            FEEDS,
            {"listing": org_a.listing.pk, "channel": "airbnb", "url": url},
            content_type="application/json",
        )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert "url" not in body and "token-9f8e" not in str(body)
    assert body["masked_url"] == "127.0.0.1/….ics"
    # Read at once, after the commit.
    assert Reservation.objects.filter(external_id="HMAPIFEED1").exists()
    shown = client.get(f"{FEEDS}{body['id']}/").json()
    assert shown["health"] == "ok" and shown["created_count"] == 1
    assert "token-9f8e" not in str(shown)


def test_a_bad_link_is_a_400_with_a_field_message(client, org_a):
    client.force_login(org_a.manager)
    for url, expected in [
        ("https://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("not a url", "full web address"),
        ("", "may not be blank"),
    ]:
        response = client.post(
            FEEDS,
            {"listing": org_a.listing.pk, "channel": "airbnb", "url": url},
            content_type="application/json",
        )
        assert response.status_code == 400
        assert expected in response.json()["url"][0]
    assert not CalendarFeed.objects.exists()


def test_sync_reads_the_calendar_now(client, org_a, make_feed, day):
    feed = make_feed(
        org_a.listing, "vrbo", "/v.ics", ics.vrbo(ics.vrbo_booking(day(5), day(8), uid="v1"))
    )
    client.force_login(org_a.manager)
    response = client.post(f"{FEEDS}{feed.pk}/sync/")
    assert response.status_code == 200
    assert response.json()["created"] == 1


def test_staff_read_feeds_but_cannot_add_or_sync(client, org_a, make_feed, calendars):
    feed = make_feed(org_a.listing, "vrbo", "/v.ics", ics.vrbo())
    client.force_login(org_a.staff)
    assert client.get(f"{FEEDS}{feed.pk}/").status_code == 200
    assert client.post(f"{FEEDS}{feed.pk}/sync/").status_code == 403
    response = client.post(
        FEEDS,
        {"listing": org_a.listing.pk, "channel": "vrbo", "url": calendars.url + "/x"},
        content_type="application/json",
    )
    assert response.status_code == 403


def test_another_organizations_feeds_and_listings_are_out_of_reach(
    client, org_a, org_b, make_feed, calendars
):
    feed = make_feed(org_b.listing, "vrbo", "/v.ics", ics.vrbo())
    client.force_login(org_a.manager)
    assert client.get(FEEDS).json()["results"] == []
    assert client.get(f"{FEEDS}{feed.pk}/").status_code == 404
    assert client.post(f"{FEEDS}{feed.pk}/sync/").status_code == 404
    response = client.post(
        FEEDS,
        {"listing": org_b.listing.pk, "channel": "vrbo", "url": calendars.url + "/y"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert CalendarFeed.objects.count() == 1
