"""A feed's events become stays and follow them; nothing is cancelled by accident.

Every test reads a real calendar over HTTP from a server on loopback."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from calendar_feeds.models import CalendarFeed, FeedEvent
from calendar_feeds.services import feed_sync, feeds_enqueue_due
from reservations.models import Reservation
from reservations.services import reservation_create, reservation_update

from . import ics

Status = Reservation.Status


def _sync(feed) -> object:
    result = feed_sync(feed_id=feed.pk)
    feed.refresh_from_db()
    return result


def _feed_stays(feed):
    return Reservation.objects.filter(
        pk__in=FeedEvent.objects.filter(feed=feed).values("reservation")
    ).order_by("check_in")


@pytest.fixture
def airbnb(org_a, day, make_feed, calendars):
    """An Airbnb feed with one booking (in 5 days, 3 nights) and one block."""
    listing = org_a.listing
    body = ics.airbnb(
        ics.airbnb_booking(day(5), day(8), code="HMABCD1234", phone="5678"),
        ics.airbnb_block(day(20), day(25), uid="blk-1@airbnb.com"),
    )
    return make_feed(listing, "airbnb", "/airbnb.ics", body)


def test_an_airbnb_booking_becomes_a_confirmed_stay_at_the_listings_times(airbnb, org_a, day):
    result = _sync(airbnb)
    assert (result.created, result.ignored) == (1, 1)
    stay = _feed_stays(airbnb).get()
    zone = org_a.property.zone
    listing = org_a.listing
    assert stay.status == Status.CONFIRMED
    assert timezone.localtime(stay.check_in, zone).date() == day(5)
    assert timezone.localtime(stay.check_in, zone).time() == listing.effective_check_in_time
    # The end date is exclusive: the guest leaves on day 8, at the check-out time.
    assert timezone.localtime(stay.check_out, zone).date() == day(8)
    assert timezone.localtime(stay.check_out, zone).time() == listing.effective_check_out_time
    # The reservation URL's confirmation code is the id staff see; the phone's last digits
    # are kept for the phone code style.
    assert stay.external_id == "HMABCD1234"
    assert stay.guest_phone == "5678"
    assert stay.source == "Airbnb calendar"
    assert airbnb.health == "ok"
    assert (airbnb.created_count, airbnb.ignored_count) == (1, 1)


def test_the_phone_code_style_gives_the_guest_the_last_four_digits(org_a, day, make_feed):
    listing = org_a.listing
    listing.code_style = "phone"
    listing.code_length = 4
    listing.save()
    feed = make_feed(
        listing,
        "airbnb",
        "/p.ics",
        ics.airbnb(ics.airbnb_booking(day(5), day(8), code="HMPHONE001", phone="4829")),
    )
    _sync(feed)
    assert _feed_stays(feed).get().code.value == "4829"


def test_an_unchanged_calendar_is_asked_for_conditionally_and_writes_nothing(airbnb, calendars):
    _sync(airbnb)
    stay = _feed_stays(airbnb).get()
    result = _sync(airbnb)
    assert result.outcome == "not_modified"
    sent = calendars.requests_to("/airbnb.ics")[-1]
    assert sent["If-None-Match"] == airbnb.etag
    assert "Not modified" in airbnb.last_status
    assert Reservation.objects.get(pk=stay.pk).updated_at == stay.updated_at


def test_a_date_change_moves_the_same_stay(airbnb, calendars, org_a, day):
    _sync(airbnb)
    stay = _feed_stays(airbnb).get()
    calendars.serve(
        "/airbnb.ics", ics.airbnb(ics.airbnb_booking(day(6), day(10), code="HMABCD1234"))
    )
    result = _sync(airbnb)
    assert result.changed == 1
    moved = Reservation.objects.get(pk=stay.pk)
    zone = org_a.property.zone
    assert timezone.localtime(moved.check_in, zone).date() == day(6)
    assert timezone.localtime(moved.check_out, zone).date() == day(10)
    assert Reservation.objects.filter(listing=org_a.listing, external_id="HMABCD1234").count() == 1


def test_an_event_removed_is_cancelled_only_after_the_second_whole_fetch(airbnb, calendars, day):
    _sync(airbnb)
    stay = _feed_stays(airbnb).get()
    calendars.serve("/airbnb.ics", ics.airbnb(ics.airbnb_block(day(20), day(25), uid="b")))
    _sync(airbnb)
    assert Reservation.objects.get(pk=stay.pk).status == Status.CONFIRMED
    # A changed body (another block), so the server answers 200 again, not 304.
    calendars.serve(
        "/airbnb.ics",
        ics.airbnb(
            ics.airbnb_block(day(20), day(25), uid="b"),
            ics.airbnb_block(day(30), day(31), uid="c"),
        ),
    )
    result = _sync(airbnb)
    assert result.cancelled == 1
    assert Reservation.objects.get(pk=stay.pk).status == Status.CANCELLED


def test_an_event_back_after_one_miss_is_not_cancelled(airbnb, calendars, day):
    _sync(airbnb)
    stay = _feed_stays(airbnb).get()
    original = calendars.pages["/airbnb.ics"].body
    calendars.serve("/airbnb.ics", ics.airbnb(ics.airbnb_block(day(20), day(25), uid="b")))
    _sync(airbnb)
    calendars.serve("/airbnb.ics", original)
    _sync(airbnb)
    calendars.serve("/airbnb.ics", ics.airbnb(ics.airbnb_block(day(20), day(25), uid="b")))
    _sync(airbnb)
    assert Reservation.objects.get(pk=stay.pk).status == Status.CONFIRMED


@pytest.mark.parametrize(
    ("status", "body", "why"),
    [
        (500, "Internal Server Error", "HTTP 500"),
        (200, "<!DOCTYPE html><html><body>Sign in</body></html>", "not an iCalendar"),
        (200, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", "came back empty"),
    ],
    ids=["error", "html", "empty"],
)
def test_an_answer_that_cannot_be_trusted_cancels_nothing_and_says_why(
    airbnb, calendars, status, body, why
):
    _sync(airbnb)
    stay = _feed_stays(airbnb).get()
    mail.outbox.clear()
    for _ in range(3):  # however many times in a row
        calendars.serve("/airbnb.ics", body, status=status)
        result = _sync(airbnb)
        assert result.outcome == "failing"
    assert Reservation.objects.get(pk=stay.pk).status == Status.CONFIRMED
    assert airbnb.failing and airbnb.health == "failing"
    assert why in airbnb.last_error
    # The managers are told once, not at every read.
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alpha-manager@example.com"]
    assert why in mail.outbox[0].body
    assert calendars.url not in mail.outbox[0].body  # the link is a secret


def test_a_calendar_over_the_size_cap_is_not_read(airbnb, calendars, settings):
    _sync(airbnb)
    stay = _feed_stays(airbnb).get()
    settings.KEYSTAY_CALENDAR_FEED_MAX_BYTES = 2000
    padding = "X-PADDING:" + "x" * 70 + "\r\n"
    calendars.serve("/airbnb.ics", "BEGIN:VCALENDAR\r\n" + padding * 100 + "END:VCALENDAR\r\n")
    result = _sync(airbnb)
    assert result.outcome == "failing"
    assert "larger than 2,000 bytes" in airbnb.last_error
    assert Reservation.objects.get(pk=stay.pk).status == Status.CONFIRMED


def test_a_redirect_to_the_metadata_address_is_refused_and_cancels_nothing(airbnb, calendars):
    _sync(airbnb)
    stay = _feed_stays(airbnb).get()
    calendars.serve("/airbnb.ics", b"", status=302, Location="http://169.254.169.254/")
    result = _sync(airbnb)
    assert result.outcome == "failing"
    assert "metadata" in airbnb.last_error
    assert Reservation.objects.get(pk=stay.pk).status == Status.CONFIRMED


def test_losing_most_coming_stays_at_once_cancels_nothing(org_a, day, make_feed, calendars):
    bookings = [
        ics.airbnb_booking(day(5 + 4 * n), day(7 + 4 * n), code=f"HMLOSS{n:04d}") for n in range(4)
    ]
    feed = make_feed(org_a.listing, "airbnb", "/many.ics", ics.airbnb(*bookings))
    _sync(feed)
    assert _feed_stays(feed).filter(status=Status.CONFIRMED).count() == 4
    calendars.serve("/many.ics", ics.airbnb(bookings[0]))
    for _ in range(3):
        result = _sync(feed)
        assert result.outcome == "failing"
    assert "3 of the 4 coming stays" in feed.last_error
    assert _feed_stays(feed).filter(status=Status.CONFIRMED).count() == 4


def test_a_link_gone_for_a_day_raises_its_own_alert(airbnb, calendars):
    _sync(airbnb)
    mail.outbox.clear()
    calendars.serve("/airbnb.ics", "Not found", status=404)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _sync(airbnb)
    assert airbnb.health == "gone"
    assert mail.outbox == []  # a channel answers 404 for a moment now and then
    with time_machine.travel(start + datetime.timedelta(hours=25), tick=False):
        _sync(airbnb)
    assert len(mail.outbox) == 1
    assert "no longer works" in mail.outbox[0].subject
    assert _feed_stays(airbnb).get().status == Status.CONFIRMED


def test_a_stay_under_way_that_drops_out_is_not_cancelled(org_a, make_feed, calendars, day):
    feed = make_feed(
        org_a.listing,
        "airbnb",
        "/now.ics",
        ics.airbnb(
            ics.airbnb_booking(day(-1), day(3), code="HMNOW00001"),
            ics.airbnb_booking(day(10), day(12), code="HMLATER001"),
        ),
    )
    _sync(feed)
    stay = Reservation.objects.get(external_id="HMNOW00001")
    # Airbnb exports coming days only: after the first night the stay leaves the export.
    calendars.serve(
        "/now.ics", ics.airbnb(ics.airbnb_booking(day(10), day(12), code="HMLATER001"))
    )
    _sync(feed)
    calendars.serve(
        "/now.ics",
        ics.airbnb(
            ics.airbnb_booking(day(10), day(12), code="HMLATER001"),
            ics.airbnb_block(day(40), day(41), uid="x"),
        ),
    )
    _sync(feed)
    assert Reservation.objects.get(pk=stay.pk).status == Status.CONFIRMED


def test_staff_changes_are_kept_for_the_fields_they_touched(airbnb, calendars, org_a, day):
    _sync(airbnb)
    stay = _feed_stays(airbnb).get()
    zone = org_a.property.zone
    late_checkout = stay.check_out + datetime.timedelta(hours=3)
    reservation_update(reservation=stay, check_out=late_checkout, guest_name="Ana Costa")
    # The guest moves arrival one day earlier on Airbnb; the departure day is the same.
    calendars.serve(
        "/airbnb.ics", ics.airbnb(ics.airbnb_booking(day(4), day(8), code="HMABCD1234"))
    )
    _sync(airbnb)
    stay.refresh_from_db()
    assert timezone.localtime(stay.check_in, zone).date() == day(4)
    assert stay.check_out == late_checkout
    assert stay.guest_name == "Ana Costa"


def test_blocks_from_a_synced_calendar_never_become_second_stays(org_a, day, make_feed):
    listing = org_a.listing
    airbnb = make_feed(
        listing,
        "airbnb",
        "/a.ics",
        ics.airbnb(ics.airbnb_booking(day(5), day(8), code="HMSYNC0001")),
    )
    vrbo = make_feed(
        listing,
        "vrbo",
        "/v.ics",
        ics.vrbo(
            ics.vrbo_block(day(5), day(8), uid="vb-1@vrbo.com"),  # Airbnb's booking, mirrored
            ics.vrbo_booking(day(12), day(14), uid="vr-1@vrbo.com"),
        ),
    )
    _sync(airbnb)
    result = _sync(vrbo)
    assert (result.created, result.ignored) == (1, 1)
    assert (
        listing.reservations.filter(status=Status.CONFIRMED, source__endswith="calendar").count()
        == 2
    )


def test_a_booking_com_closed_date_on_another_channels_booking_is_the_same_stay(
    org_a, day, make_feed
):
    """Booking.com shows every closed day alike: its events are stays, unless they are
    the days of a booking Keystay has from another feed."""
    listing = org_a.listing
    airbnb = make_feed(
        listing,
        "airbnb",
        "/a.ics",
        ics.airbnb(ics.airbnb_booking(day(5), day(8), code="HMSYNC0002")),
    )
    booking = make_feed(
        listing,
        "booking",
        "/b.ics",
        ics.booking(
            ics.booking_closed(day(5), day(8), uid="bk-1@booking.com"),
            ics.booking_closed(day(15), day(18), uid="bk-2@booking.com"),
        ),
    )
    _sync(airbnb)
    result = _sync(booking)
    assert (result.created, result.ignored) == (1, 1)
    assert FeedEvent.objects.get(uid="bk-1@booking.com").kind == FeedEvent.Kind.DUPLICATE


def test_a_booking_com_feed_can_say_its_closed_dates_are_not_guests(org_a, day, make_feed):
    feed = make_feed(
        org_a.listing,
        "booking",
        "/b.ics",
        ics.booking(ics.booking_closed(day(15), day(18), uid="bk-3@booking.com")),
        events_rule="bookings_only",
    )
    result = _sync(feed)
    assert (result.created, result.ignored) == (0, 1)


def test_a_booking_from_the_api_with_the_same_code_is_one_stay(org_a, day, make_feed):
    listing = org_a.listing
    api_stay = reservation_create(
        listing=listing,
        guest_name="Maria Silva",
        check_in=listing.local_check_in(day(5)),
        check_out=listing.local_check_out(day(8)),
        status=Status.CONFIRMED,
        external_id="HMAPI00001",
    )
    feed = make_feed(
        listing,
        "airbnb",
        "/a.ics",
        ics.airbnb(ics.airbnb_booking(day(5), day(8), code="HMAPI00001")),
    )
    result = _sync(feed)
    assert result.created == 0
    assert FeedEvent.objects.get(feed=feed).reservation == api_stay
    assert listing.reservations.filter(external_id="HMAPI00001").count() == 1


def test_a_uid_that_changed_with_the_same_days_and_summary_is_the_same_stay(
    org_a, day, make_feed, calendars
):
    feed = make_feed(
        org_a.listing,
        "vrbo",
        "/v.ics",
        ics.vrbo(ics.vrbo_booking(day(5), day(8), uid="old-uid@vrbo.com")),
    )
    _sync(feed)
    stay = _feed_stays(feed).get()
    for n in range(2):
        calendars.serve(
            "/v.ics",
            ics.vrbo(
                ics.vrbo_booking(day(5), day(8), uid="new-uid@vrbo.com"),
                ics.vrbo_block(day(30 + n), day(31 + n), uid=f"b{n}"),
            ),
        )
        result = _sync(feed)
        assert (result.created, result.cancelled) == (0, 0)
    assert Reservation.objects.get(pk=stay.pk).status == Status.CONFIRMED
    assert FeedEvent.objects.get(feed=feed, kind="stay").uid == "new-uid@vrbo.com"


def test_a_different_calendar_at_the_link_counts_no_misses(org_a, day, make_feed, calendars):
    feed = make_feed(
        org_a.listing,
        "airbnb",
        "/a.ics",
        ics.airbnb(ics.airbnb_booking(day(5), day(8), code="HMSAME0001")),
    )
    _sync(feed)
    stay = _feed_stays(feed).get()
    for n in range(2):
        calendars.serve("/a.ics", ics.vrbo(ics.vrbo_block(day(30 + n), day(31 + n), uid=f"b{n}")))
        _sync(feed)
        # The first read of another calendar is not a miss: its second read is the first.
    assert Reservation.objects.get(pk=stay.pk).status == Status.CONFIRMED


def test_a_stay_crossing_a_daylight_saving_change_keeps_its_local_times(org_a, make_feed):
    """Lisbon's clocks go back on the last Sunday of October 2027 (the 31st)."""
    listing = org_a.listing
    with time_machine.travel(datetime.datetime(2027, 10, 1, 12, tzinfo=datetime.UTC), tick=False):
        feed = make_feed(
            listing,
            "airbnb",
            "/dst.ics",
            ics.airbnb(
                ics.airbnb_booking(
                    datetime.date(2027, 10, 29), datetime.date(2027, 11, 2), code="HMDST00001"
                )
            ),
        )
        _sync(feed)
    stay = _feed_stays(feed).get()
    zone = org_a.property.zone
    assert timezone.localtime(stay.check_in, zone).time() == listing.effective_check_in_time
    assert timezone.localtime(stay.check_out, zone).time() == listing.effective_check_out_time
    assert stay.check_in.utcoffset() is not None
    assert (stay.check_out - stay.check_in) == datetime.timedelta(days=4, hours=1) - (
        datetime.datetime.combine(datetime.date(2000, 1, 1), listing.effective_check_in_time)
        - datetime.datetime.combine(datetime.date(2000, 1, 1), listing.effective_check_out_time)
    )


def test_the_periodic_pass_queues_each_due_feed_once(airbnb, org_b, make_feed, day):
    other = make_feed(
        org_b.listing, "vrbo", "/o.ics", ics.vrbo(ics.vrbo_booking(day(5), day(8), uid="o"))
    )
    # Tests run tasks inline: each queued feed is read by its own task.
    assert feeds_enqueue_due() == 2
    assert feeds_enqueue_due() == 0  # not due again before the interval
    assert CalendarFeed.objects.filter(last_success_at__isnull=False).count() == 2
    assert _feed_stays(other).get().organization == org_b.organization


def test_a_booking_that_overlaps_another_confirmed_stay_is_kept_and_the_managers_told(
    org_a, day, make_feed
):
    listing = org_a.listing
    typed = reservation_create(
        listing=listing,
        guest_name="Walk-in Guest",
        check_in=listing.local_check_in(day(6)),
        check_out=listing.local_check_out(day(9)),
        status=Status.CONFIRMED,
    )
    feed = make_feed(
        listing,
        "airbnb",
        "/a.ics",
        ics.airbnb(ics.airbnb_booking(day(5), day(8), code="HMDOUBLE01")),
    )
    mail.outbox.clear()
    result = _sync(feed)
    assert result.created == 1  # accepted, as the contract says
    (warning,) = result.double_bookings
    assert "Walk-in Guest" in warning and f"reservation {typed.pk}" in warning
    (email,) = mail.outbox
    assert "Double booking" in email.subject and "Walk-in Guest" in email.body
    mail.outbox.clear()
    _sync(feed)  # nothing new: no second email
    assert mail.outbox == []


def test_a_2000_event_calendar_reconciles_in_bounded_memory_and_few_writes_when_read_again(
    org_a, day, make_feed, calendars, django_assert_max_num_queries
):
    import tracemalloc

    blocks = [
        ics.airbnb_block(day(1 + i), day(2 + i), uid=f"b{i}@airbnb.com") for i in range(1995)
    ]
    bookings = [
        ics.airbnb_booking(day(3 + 9 * n), day(5 + 9 * n), code=f"HMBIG{n:05d}") for n in range(5)
    ]
    feed = make_feed(org_a.listing, "airbnb", "/big.ics", ics.airbnb(*bookings, *blocks))
    tracemalloc.start()
    try:
        result = _sync(feed)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (result.created, result.ignored) == (5, 1995)
    assert peak < 40 * 1024 * 1024
    # One booking more: the 2,000 known events are not written again, one by one.
    extra = ics.airbnb_booking(day(400), day(402), code="HMBIGNEW01")
    calendars.serve("/big.ics", ics.airbnb(*bookings, *blocks, extra))
    with django_assert_max_num_queries(120):
        result = _sync(feed)
    assert result.created == 1
