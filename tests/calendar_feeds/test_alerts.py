"""Failing feeds, links gone and double bookings are alerts in the one alerts list that
managers read (the alerts admin, the API), beside the locks' alerts: opened once,
resolved when the feed reads again or the stays no longer overlap."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from calendar_feeds.services import feed_delete, feed_sync
from reservations.alerts import double_booking_alerts_expire
from reservations.models import DeviceAlert, Reservation
from reservations.services import reservation_cancel, reservation_create, reservation_update

from . import ics

pytestmark = pytest.mark.django_db

Kind = DeviceAlert.Kind
ALERTS = reverse("admin:reservations_devicealert_changelist")


@pytest.fixture
def airbnb(org_a, day, make_feed):
    body = ics.airbnb(ics.airbnb_booking(day(5), day(8), code="HMALERT001"))
    feed = make_feed(org_a.listing, "airbnb", "/alert.ics", body)
    feed_sync(feed_id=feed.pk)
    return feed


def _alerts(kind):
    return list(DeviceAlert.objects.filter(kind=kind).order_by("pk"))


def test_a_failing_feed_is_one_open_alert_in_the_alerts_list_until_it_reads_again(
    airbnb, calendars, org_a, manager_client
):
    good = calendars.pages["/alert.ics"]
    calendars.serve("/alert.ics", "<html>Sign in</html>", Content_Type="text/html")
    for _ in range(3):
        feed_sync(feed_id=airbnb.pk)
    (alert,) = _alerts(Kind.FEED_FAILING)  # once, however many reads fail
    assert (alert.device, alert.listing, alert.is_open) == (None, org_a.listing, True)
    assert "127.0.0.1/…" in alert.message and calendars.url not in alert.message
    page = manager_client.get(ALERTS + "?state=open").content.decode()
    assert 'field-kind">Calendar feed failing' in page  # a row of the list, not its filter
    assert f'field-place">{org_a.listing}' in page
    api = manager_client.get("/api/v1/alerts/").json()
    (row,) = [a for a in api["results"] if a["kind"] == "feed_failing"]
    assert (row["device"], row["listing"]) == (None, org_a.listing.pk)

    calendars.pages["/alert.ics"] = good
    feed_sync(feed_id=airbnb.pk)
    alert.refresh_from_db()
    assert not alert.is_open and alert.resolution == "The calendar reads again."
    page = manager_client.get(ALERTS + "?state=open").content.decode()
    assert 'field-kind">Calendar feed failing' not in page


def test_a_link_gone_for_a_day_gets_its_own_alert_resolved_when_it_reads(airbnb, calendars):
    good = calendars.pages["/alert.ics"]
    calendars.serve("/alert.ics", "Not found", status=404)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        feed_sync(feed_id=airbnb.pk)
    assert _alerts(Kind.FEED_GONE) == []  # a 404 for a moment is no alert yet
    with time_machine.travel(start + datetime.timedelta(hours=25), tick=False):
        feed_sync(feed_id=airbnb.pk)
        feed_sync(feed_id=airbnb.pk)
    (gone,) = _alerts(Kind.FEED_GONE)
    assert gone.is_open and "HTTP 404" in gone.message
    calendars.pages["/alert.ics"] = good
    with time_machine.travel(start + datetime.timedelta(hours=26), tick=False):
        feed_sync(feed_id=airbnb.pk)
    gone.refresh_from_db()
    assert not gone.is_open


def test_removing_a_failing_feed_resolves_its_alert(airbnb, calendars):
    calendars.serve("/alert.ics", "oops", status=500)
    feed_sync(feed_id=airbnb.pk)
    feed_delete(feed=airbnb)
    (alert,) = _alerts(Kind.FEED_FAILING)
    assert alert.resolution == "Feed removed."


def _stay(listing, start, end, name, status=Reservation.Status.CONFIRMED):
    return reservation_create(
        listing=listing,
        guest_name=name,
        check_in=listing.local_check_in(start),
        check_out=listing.local_check_out(end),
        status=status,
    )


def test_a_double_booking_typed_by_hand_is_one_alert_until_the_overlap_is_gone(
    org_a, day, manager_client
):
    listing = org_a.listing
    first = _stay(listing, day(10), day(13), "Ana")
    assert _alerts(Kind.DOUBLE_BOOKING) == []
    second = _stay(listing, day(12), day(15), "Ben")
    (alert,) = _alerts(Kind.DOUBLE_BOOKING)
    assert (alert.listing, alert.device, alert.reservation) == (listing, None, second)
    assert "Ana" in alert.message and "Ben" in alert.message
    reservation_update(reservation=first, guest_name="Ana Silva")  # still overlapping
    assert len(_alerts(Kind.DOUBLE_BOOKING)) == 1
    page = manager_client.get(ALERTS + "?state=open").content.decode()
    assert 'field-kind">Double booking' in page

    reservation_cancel(reservation=first)
    alert.refresh_from_db()
    assert not alert.is_open and alert.resolution == "The two stays no longer overlap."


def test_moving_a_stay_off_the_others_nights_resolves_and_a_pending_one_raises_nothing(org_a, day):
    listing = org_a.listing
    _stay(listing, day(10), day(13), "Ana")
    _stay(listing, day(11), day(12), "Pending", status=Reservation.Status.PENDING)
    assert _alerts(Kind.DOUBLE_BOOKING) == []
    second = _stay(listing, day(12), day(15), "Ben")
    reservation_update(
        reservation=second,
        check_in=listing.local_check_in(day(13)),
        check_out=listing.local_check_out(day(15)),
    )  # a turnover, not an overlap
    (alert,) = _alerts(Kind.DOUBLE_BOOKING)
    assert not alert.is_open


def test_a_double_booking_from_a_feed_is_an_alert_and_one_that_is_over_resolves(
    org_a, day, make_feed
):
    listing = org_a.listing
    _stay(listing, day(6), day(9), "Walk-in Guest")
    feed = make_feed(
        listing, "airbnb", "/d.ics", ics.airbnb(ics.airbnb_booking(day(5), day(8), code="HMD01"))
    )
    feed_sync(feed_id=feed.pk)
    (alert,) = _alerts(Kind.DOUBLE_BOOKING)
    assert alert.is_open and alert.reservation.source == "Airbnb calendar"
    assert double_booking_alerts_expire() == 0
    assert double_booking_alerts_expire(now=timezone.now() + datetime.timedelta(days=10)) == 1
    alert.refresh_from_db()
    assert alert.resolution == "The stays are over."


def test_the_list_that_holds_listing_alerts_is_called_alerts_not_device_alerts(
    airbnb, org_a, manager_client
):
    DeviceAlert.objects.create(
        organization=org_a.organization,
        listing=org_a.listing,
        kind=Kind.DOUBLE_BOOKING,
        opened_at=timezone.now(),
    )
    index = manager_client.get(reverse("admin:index")).content.decode()
    assert f'<a href="{ALERTS}">Alerts</a>' in index
    page = manager_client.get(ALERTS).content.decode()
    assert "<title>Select alert to view | Keystay</title>" in page
    change = reverse("admin:reservations_devicealert_change", args=[DeviceAlert.objects.get().pk])
    assert "| View alert | Keystay</title>" in manager_client.get(change).content.decode()
    for body in (index, page):
        assert "evice alert" not in body
