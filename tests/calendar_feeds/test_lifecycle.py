"""A booking that arrives by calendar gets its code on the locks (Seam's fake, through the
real SDK) like any stay; a date change moves it with the same code; a removal revokes it."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from calendar_feeds.models import FeedEvent
from calendar_feeds.services import feed_sync
from reservations import services
from reservations.models import LockAccess, Reservation
from tests.fixtures_lifecycle import run_at

from . import ics

pytestmark = pytest.mark.django_db

MINUTE = datetime.timedelta(minutes=1)


def seam_time(value):
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture
def feed(wired, make_feed, day):
    return make_feed(
        wired.listing,
        "airbnb",
        "/airbnb.ics",
        ics.airbnb(ics.airbnb_booking(day(4), day(7), code="HMLOCKS001", phone="2468")),
    )


def _stay(feed) -> Reservation:
    return Reservation.objects.get(pk=FeedEvent.objects.get(feed=feed, kind="stay").reservation_id)


def test_a_new_booking_has_its_code_on_every_guest_lock_by_check_in(wired, feed):
    feed_sync(feed_id=feed.pk)
    stay = _stay(feed)
    starts, ends = stay.window
    run_at(starts - MINUTE)
    for device in (wired.gate, wired.side):
        (on_lock,) = wired.codes_on(device)
        assert on_lock.code == stay.code.value
        assert (on_lock.starts_at, on_lock.ends_at) == (seam_time(starts), seam_time(ends))
    assert wired.codes_on(wired.back) == []


def test_a_date_change_keeps_the_code_and_moves_its_window(wired, feed, calendars, day):
    feed_sync(feed_id=feed.pk)
    stay = _stay(feed)
    gate = LockAccess.objects.get(reservation=stay, device=wired.gate)
    run_at(gate.program_at + MINUTE)
    services.code_mark_sent(reservation=stay)
    code = stay.code.value
    # The guest stays two nights longer.
    calendars.serve(
        "/airbnb.ics", ics.airbnb(ics.airbnb_booking(day(4), day(9), code="HMLOCKS001"))
    )
    feed_sync(feed_id=feed.pk)
    run_at(timezone.now() + MINUTE)
    stay.refresh_from_db()
    assert stay.code.value == code
    new_out = wired.listing.local_check_out(day(9))
    assert stay.check_out == new_out
    for device in (wired.gate, wired.side):
        (on_lock,) = wired.codes_on(device)
        assert on_lock.code == code
        assert on_lock.ends_at == seam_time(stay.window[1])


def test_a_booking_removed_twice_leaves_the_locks(
    wired, feed, calendars, day, django_capture_on_commit_callbacks
):
    feed_sync(feed_id=feed.pk)
    stay = _stay(feed)
    run_at(LockAccess.objects.get(reservation=stay, device=wired.gate).program_at + MINUTE)
    assert len(wired.codes_on(wired.gate)) == 1
    for n in range(2):
        calendars.serve(
            "/airbnb.ics", ics.airbnb(ics.airbnb_block(day(30 + n), day(31 + n), uid=f"b{n}"))
        )
        with django_capture_on_commit_callbacks(execute=True):
            feed_sync(feed_id=feed.pk)
        if n == 0:
            assert len(wired.codes_on(wired.gate)) == 1  # one miss: nothing changes
    assert _stay(feed).status == Reservation.Status.CANCELLED
    assert wired.codes_on(wired.gate) == [] and wired.codes_on(wired.side) == []
