"""`make run`'s demo: a listing fed by a sample calendar that Keystay serves itself."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from calendar_feeds.demo import demo_calendar_body
from calendar_feeds.models import CalendarFeed
from calendar_feeds.services import feed_sync
from reservations.models import Reservation

pytestmark = pytest.mark.django_db


def test_the_sample_calendar_is_served_in_demo_mode_only(client):
    assert client.get("/demo/calendars/airbnb.ics").status_code == 404
    with override_settings(DEMO_MODE=True):
        answer = client.get("/demo/calendars/airbnb.ics")
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/calendar")
    assert b"SUMMARY:Reserved" in answer.content


@override_settings(DEMO_MODE=True)
def test_the_demo_listing_gets_its_stays_from_the_sample_calendar(calendars):
    call_command("seed_demo")
    url = calendars.serve("/demo/calendars/airbnb.ics", demo_calendar_body(timezone.localdate()))
    call_command("seed_demo_feed", url=url)
    call_command("seed_demo_feed", url=url)  # a second start adds nothing
    feed = CalendarFeed.objects.get()
    assert feed.listing.name == "Studio 3C"
    feed_sync(feed_id=feed.pk)
    stays = Reservation.objects.filter(listing=feed.listing, status="confirmed")
    assert sorted(stays.values_list("external_id", flat=True)) == ["HMDEMO2C01", "HMDEMO2C02"]


def test_the_demo_feeds_stays_get_their_codes_on_a_free_lock(fake_seam, calendars):
    fake_seam.reset()
    with override_settings(
        DEMO_MODE=True,
        SEAM_API_KEY=fake_seam.api_key,
        SEAM_ENDPOINT=fake_seam.url,
        SEAM_FAKE_ENDPOINT=fake_seam.url,
    ):
        call_command("seed_demo")
        url = calendars.serve("/demo.ics", demo_calendar_body(timezone.localdate()))
        call_command("seed_demo_feed", url=url)
    feed = CalendarFeed.objects.get()
    (assignment,) = feed.listing.assignments.all()
    assert assignment.guest_access and assignment.role == "primary"
    feed_sync(feed_id=feed.pk)
    stay = Reservation.objects.get(listing=feed.listing, external_id="HMDEMO2C01")
    assert [access.device for access in stay.lock_accesses.all()] == [assignment.device]
