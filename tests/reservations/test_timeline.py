"""The timeline: each stay's code drawn on the doors it is on, where its instants put it.

The layout is plain data (reservations.timeline), so these tests check x and width of
each bar against the elapsed hours since the range's first local midnight: 48 units a
day, 2 an hour, after the 190-unit label column.
"""

import datetime
import zoneinfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from locks import services as lock_services
from locks.models import LockAssignment, UnmanagedCode
from reservations import services, timeline
from reservations.models import LockAccess, Reservation
from tests.conftest import make_org
from tests.factories import DeviceFactory, ListingFactory, UserFactory

pytestmark = pytest.mark.django_db

LISBON = zoneinfo.ZoneInfo("Europe/Lisbon")
UTC = datetime.UTC
HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)
UNITS_PER_HOUR = timeline.DAY_WIDTH / 24
# Summer in Lisbon (WEST, UTC+1), no daylight-saving change in the range.
NOW = datetime.datetime(2025, 6, 10, 9, 30, tzinfo=UTC)
FIRST_DAY = datetime.date(2025, 6, 7)


def expected_x(instant: datetime.datetime, first_day=FIRST_DAY, zone=LISBON) -> float:
    """Independent of the code under test: elapsed hours from the first local midnight."""
    start = datetime.datetime.combine(first_day, datetime.time.min, tzinfo=zone)
    hours = (instant.astimezone(UTC) - start.astimezone(UTC)).total_seconds() / 3600
    return timeline.LABEL_WIDTH + hours * UNITS_PER_HOUR


def local(day: datetime.date, hour: int, zone=LISBON) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour), tzinfo=zone)


class Scene:
    """A listing with two doors, three stays (one with an override on one door, one
    cancelled) and a cleaner's code made in the front door's own app."""

    def __init__(self, org):
        self.org = org
        self.listing = org.listing
        self.front = org.device  # primary
        self.side = DeviceFactory(connection=org.device.connection, name="Side Door")
        self.side_assignment = LockAssignment.objects.create(
            listing=self.listing, device=self.side, role="secondary", guest_access=True
        )
        # The factory's own stay moves out of the way (well after the range).
        Reservation.objects.filter(pk=org.reservation.pk).update(
            check_in=NOW + 90 * DAY, check_out=NOW + 93 * DAY
        )
        with time_machine.travel(NOW, tick=False):
            self.first = self.book("Ana Costa", datetime.date(2025, 6, 11), 3)
            self.second = self.book("Ben Okafor", datetime.date(2025, 6, 14), 3)  # turnover
            self.cancelled = self.book("Cleo Marsh", datetime.date(2025, 6, 19), 2)
            services.reservation_cancel(reservation=self.cancelled)
            # Ana may go in three hours early by the side door only.
            services.override_set(
                reservation=self.first,
                assignment=self.side_assignment,
                starts_at=self.first.check_in - 3 * HOUR,
            )
        self.cleaner = UnmanagedCode.objects.create(
            organization=org.organization,
            device=self.front,
            provider_id="ac_cleaner",
            name="Cleaner",
            starts_at=local(datetime.date(2025, 6, 14), 11),
            ends_at=local(datetime.date(2025, 6, 14), 15),
            first_seen_at=NOW,
            last_seen_at=NOW,
        )

    def book(self, guest, day, nights, status=Reservation.Status.CONFIRMED):
        return services.reservation_create(
            listing=self.listing,
            guest_name=guest,
            check_in=self.listing.local_check_in(day),
            check_out=self.listing.local_check_out(day + nights * DAY),
            status=status,
        )

    def access(self, reservation, device) -> LockAccess:
        return LockAccess.objects.get(reservation=reservation, device=device)

    def draw(self, *, first_day=FIRST_DAY, days=timeline.DEFAULT_DAYS, now=NOW):
        return timeline.build_timeline(
            listings=[self.listing], first_day=first_day, days=days, now=now, zone=LISBON
        )


@pytest.fixture
def scene(org_a):
    return Scene(org_a)


def lane(drawing, key_end) -> timeline.Lane:
    (found,) = [lane for lane in drawing.lanes if lane.key.endswith(key_end)]
    return found


def bar_of(found_lane, reservation) -> timeline.Bar:
    (bar,) = [b for b in found_lane.bars if b.reservation_id == reservation.pk]
    return bar


def test_one_lane_for_stays_one_per_door_and_one_per_code_made_outside(scene):
    drawing = scene.draw()
    assert [(lane.kind, lane.label) for lane in drawing.lanes] == [
        ("stays", "Stays"),
        ("lock", scene.front.name),
        ("lock", "Side Door"),
        ("unmanaged", "Cleaner"),
    ]
    assert lane(drawing, f"lock-{scene.front.pk}").detail == "Primary · guest codes"


def test_each_code_window_sits_on_its_door_where_its_instants_are(scene):
    drawing = scene.draw()
    for device in (scene.front, scene.side):
        door = lane(drawing, f"lock-{device.pk}")
        for stay in (scene.first, scene.second):
            access = scene.access(stay, device)
            bar = bar_of(door, stay)
            assert bar.kind == "code" and bar.device_id == device.pk
            assert bar.x == pytest.approx(expected_x(access.starts_at), abs=0.01)
            assert bar.x + bar.width == pytest.approx(expected_x(access.ends_at), abs=0.02)
            # The lead time: a strip from when the code goes on the lock to its window.
            assert bar.lead_x == pytest.approx(expected_x(access.program_at), abs=0.01)
            assert bar.lead_width == pytest.approx(24 * UNITS_PER_HOUR, abs=0.02)
            assert bar.href == reverse("admin:reservations_reservation_change", args=[stay.pk])
            assert stay.guest_name in bar.title and "Europe/Lisbon" not in bar.title
            assert "WEST" in bar.title  # times in the property's zone, named
    # Check-in at 15:00 on 11 June: 4 days and 15 hours after midnight of 7 June.
    front_first = bar_of(lane(drawing, f"lock-{scene.front.pk}"), scene.first)
    assert front_first.x == pytest.approx(timeline.LABEL_WIDTH + (4 * 24 + 15) * 2, abs=0.01)
    assert front_first.width == pytest.approx((3 * 24 - 4) * 2, abs=0.02)


def test_an_override_moves_its_door_alone_and_is_marked(scene):
    drawing = scene.draw()
    front = bar_of(lane(drawing, f"lock-{scene.front.pk}"), scene.first)
    side = bar_of(lane(drawing, f"lock-{scene.side.pk}"), scene.first)
    assert side.override and not front.override
    assert front.x - side.x == pytest.approx(3 * UNITS_PER_HOUR, abs=0.01)
    assert side.x + side.width == pytest.approx(front.x + front.width, abs=0.01)
    assert "Override on this lock: own window" in side.title
    # Ben's stay has no override on either door.
    assert not any(b.override for b in drawing.bars if b.reservation_id == scene.second.pk)


def test_a_cancelled_stay_shows_its_code_revoked_and_never_as_an_overlap(scene):
    drawing = scene.draw()
    stay_bar = bar_of(lane(drawing, "stays"), scene.cancelled)
    assert stay_bar.css == "stay-cancelled" and not stay_bar.occupies
    for device in (scene.front, scene.side):
        door = lane(drawing, f"lock-{device.pk}")
        bar = bar_of(door, scene.cancelled)
        assert bar.css == "revoked" and not bar.occupies
        assert bar.lead_width == 0  # never going on the lock
        assert "Reservation cancelled" in bar.title
        assert door.overlaps == [] and door.rows == 1  # a same-day turnover touches only


def test_a_stay_cancelled_before_it_was_confirmed_is_on_the_stays_lane_only(scene):
    with time_machine.travel(NOW, tick=False):
        pending = scene.book(
            "Dan Pending", datetime.date(2025, 6, 22), 1, status=Reservation.Status.PENDING
        )
        services.reservation_cancel(reservation=pending)
    drawing = scene.draw()
    assert bar_of(lane(drawing, "stays"), pending).css == "stay-cancelled"
    assert not [b for b in drawing.bars if b.kind == "code" and b.reservation_id == pending.pk]


def test_each_bar_takes_the_colour_of_its_door_state(scene):
    LockAccess.objects.filter(pk=scene.access(scene.first, scene.front).pk).update(
        state=LockAccess.State.CONFIRMED, provider_id="ac_1"
    )
    LockAccess.objects.filter(pk=scene.access(scene.first, scene.side).pk).update(
        state=LockAccess.State.REQUESTED, provider_id="ac_2"
    )
    LockAccess.objects.filter(pk=scene.access(scene.second, scene.side).pk).update(
        state=LockAccess.State.FAILED, last_error="Lock offline"
    )
    drawing = scene.draw()
    front, side = lane(drawing, f"lock-{scene.front.pk}"), lane(drawing, f"lock-{scene.side.pk}")
    assert bar_of(front, scene.first).css == "confirmed"
    assert bar_of(side, scene.first).css == "sent"
    assert bar_of(front, scene.second).css == "planned"
    failed = bar_of(side, scene.second)
    assert failed.css == "failed" and "Error: Lock offline" in failed.title
    # Inside its window a confirmed code is active: still "confirmed on the lock".
    inside = timeline.build_timeline(
        listings=[scene.listing],
        first_day=FIRST_DAY,
        days=timeline.DEFAULT_DAYS,
        now=scene.first.check_in + HOUR,
        zone=LISBON,
    )
    assert bar_of(lane(inside, f"lock-{scene.front.pk}"), scene.first).css == "confirmed"


def test_codes_made_outside_keystay_have_their_own_lane(scene):
    drawing = scene.draw()
    cleaner = lane(drawing, f"unmanaged-{scene.cleaner.pk}")
    (bar,) = cleaner.bars
    assert bar.kind == "unmanaged" and bar.device_id == scene.front.pk
    assert bar.x == pytest.approx(expected_x(scene.cleaner.starts_at), abs=0.01)
    assert bar.width == pytest.approx(4 * UNITS_PER_HOUR, abs=0.02)
    assert cleaner.detail == f"on {scene.front.name}"
    # An ongoing code (no window) spans the whole range.
    scene.cleaner.starts_at = scene.cleaner.ends_at = None
    scene.cleaner.save()
    (bar,) = lane(scene.draw(), f"unmanaged-{scene.cleaner.pk}").bars
    assert bar.x == timeline.LABEL_WIDTH
    assert bar.width == pytest.approx(timeline.DEFAULT_DAYS * timeline.DAY_WIDTH)


def test_overlapping_stays_are_stacked_and_the_overlap_hatched(scene):
    with time_machine.travel(NOW, tick=False):
        double = scene.book("Dee Double", datetime.date(2025, 6, 15), 1)  # inside Ben's stay
    drawing = scene.draw()
    for key in ("stays", f"lock-{scene.front.pk}", f"lock-{scene.side.pk}"):
        found = lane(drawing, key)
        ben, dee = bar_of(found, scene.second), bar_of(found, double)
        assert found.rows == 2 and {ben.row, dee.row} == {0, 1}
        assert dee.y - ben.y == pytest.approx(timeline.ROW_HEIGHT)
        (span,) = found.overlaps
        assert span.x == pytest.approx(dee.x, abs=0.01)
        assert span.width == pytest.approx(dee.width, abs=0.02)
    # The cleaner's lane and the turnover between Ana and Ben: no overlap.
    assert lane(drawing, f"unmanaged-{scene.cleaner.pk}").overlaps == []


def test_now_and_the_days_are_marked_in_the_propertys_zone(scene):
    drawing = scene.draw()
    assert drawing.now_x == pytest.approx(expected_x(NOW), abs=0.01)
    assert drawing.now_label == "now 10:30"  # 09:30 UTC is 10:30 in Lisbon in June
    assert drawing.zone_name == "Europe/Lisbon" and drawing.zone_abbreviations == "WEST"
    assert [d.label for d in drawing.days[:3]] == ["Sat 7", "Sun 8", "Mon 9"]
    assert [d.day for d in drawing.days if d.today] == [datetime.date(2025, 6, 10)]
    assert drawing.days[0].month == "June 2025"
    # Out of the range, no "now" line.
    assert scene.draw(first_day=datetime.date(2025, 7, 1)).now_x is None


def test_bars_beyond_the_range_are_cut_at_its_edges(scene):
    # Start the range in the middle of Ana's stay: her bar starts at the left edge.
    drawing = scene.draw(first_day=datetime.date(2025, 6, 12), days=10)
    bar = bar_of(lane(drawing, f"lock-{scene.front.pk}"), scene.first)
    assert bar.x == timeline.LABEL_WIDTH
    assert bar.x + bar.width == pytest.approx(
        expected_x(scene.first.check_out, datetime.date(2025, 6, 12)), abs=0.02
    )


@pytest.mark.parametrize(
    ("first_day", "check_in_day", "short_or_long_day", "day_hours"),
    [
        # Spring forward: 30 March 2025 has 23 hours in Lisbon.
        (datetime.date(2025, 3, 27), datetime.date(2025, 3, 29), datetime.date(2025, 3, 30), 23),
        # Fall back: 26 October 2025 has 25 hours.
        (
            datetime.date(2025, 10, 23),
            datetime.date(2025, 10, 25),
            datetime.date(2025, 10, 26),
            25,
        ),
    ],
)
def test_a_window_across_a_daylight_saving_change_is_placed_by_its_instants(
    org_a, first_day, check_in_day, short_or_long_day, day_hours
):
    listing = org_a.listing
    Reservation.objects.filter(pk=org_a.reservation.pk).update(
        check_in=local(first_day, 12) + 200 * DAY, check_out=local(first_day, 12) + 201 * DAY
    )
    with time_machine.travel(local(first_day, 9), tick=False):
        stay = services.reservation_create(
            listing=listing,
            guest_name="Across the Change",
            check_in=listing.local_check_in(check_in_day),
            check_out=listing.local_check_out(check_in_day + 3 * DAY),
            status=Reservation.Status.CONFIRMED,
        )
    access = LockAccess.objects.get(reservation=stay)
    # 15:00 and 11:00 local, whatever the offset that day.
    assert access.starts_at.astimezone(LISBON).hour == 15
    assert access.ends_at.astimezone(LISBON).hour == 11
    drawing = timeline.build_timeline(
        listings=[listing], first_day=first_day, days=10, now=local(first_day, 9), zone=LISBON
    )
    bar = bar_of(lane(drawing, f"lock-{org_a.device.pk}"), stay)
    elapsed = (access.ends_at - access.starts_at.astimezone(UTC)).total_seconds() / 3600
    assert elapsed == 3 * 24 - 4 - (24 - day_hours)  # an hour less, or more, than the clock
    assert bar.x == pytest.approx(expected_x(access.starts_at, first_day), abs=0.01)
    assert bar.width == pytest.approx(elapsed * UNITS_PER_HOUR, abs=0.02)
    # The day of the change is narrower (or wider) by an hour; the others are whole days.
    widths = {tick.day: tick.width for tick in drawing.days}
    assert widths[short_or_long_day] == pytest.approx(day_hours * UNITS_PER_HOUR)
    assert widths[first_day] == pytest.approx(timeline.DAY_WIDTH)
    # And the first midnight after the change is where the elapsed hours put it.
    after = next(t for t in drawing.days if t.day == short_or_long_day + DAY)
    midnight = datetime.datetime.combine(after.day, datetime.time.min, tzinfo=LISBON)
    assert after.x == pytest.approx(expected_x(midnight, first_day), abs=0.01)
    abbreviations = {"WET", "WEST"}
    assert set(drawing.zone_abbreviations.split("/")) == abbreviations


# ------------------------------------------------------------------------ the pages


def listing_url(listing, **query) -> str:
    url = reverse("listing_timeline", args=[listing.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


@pytest.mark.parametrize("role", ["manager", "staff"])
def test_members_see_their_listings_timeline_and_others_get_404(client, scene, org_b, role):
    client.force_login(getattr(scene.org, role))
    page = client.get(listing_url(scene.listing, start="2025-06-07"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Times in Europe/Lisbon" in html
    assert f'data-reservation="{scene.first.pk}"' in html
    assert "https://" not in html.split("<svg", 1)[1].split("</svg>", 1)[0]  # no CDN
    property_page = client.get(reverse("property_timeline", args=[scene.listing.property_id]))
    assert property_page.status_code == 200

    client.force_login(getattr(org_b, role))
    assert client.get(listing_url(scene.listing)).status_code == 404
    assert (
        client.get(reverse("property_timeline", args=[scene.listing.property_id])).status_code
        == 404
    )


def test_a_person_in_no_organization_gets_404_and_a_superuser_sees_it(client, scene):
    client.force_login(UserFactory(username="drifter"))
    assert client.get(listing_url(scene.listing)).status_code == 404
    client.force_login(UserFactory(username="root", is_superuser=True))
    assert client.get(listing_url(scene.listing)).status_code == 200


def test_the_range_moves_a_week_at_a_time_and_bad_values_fall_back(client, scene):
    client.force_login(scene.org.manager)
    page = client.get(listing_url(scene.listing, start="2025-06-07"))
    html = page.content.decode()
    assert "?start=2025-05-31" in html and "?start=2025-06-14" in html
    assert page.context["timeline"].range.days == timeline.DEFAULT_DAYS
    wide = client.get(listing_url(scene.listing, start="2025-06-07", days=45))
    assert wide.context["timeline"].range.days == 45
    for bad in ({"start": "nonsense"}, {"start": "0001-01-01"}, {"days": "x"}, {"days": 10**9}):
        assert client.get(listing_url(scene.listing, **bad)).status_code == 200
    # A day to show "around" at the calendar's very start: the days before it do not exist.
    for bad in ({"around": "0001-01-01"}, {"around": "0001-01-02", "days": 400}):
        fallback = client.get(listing_url(scene.listing, **bad))
        assert fallback.status_code == 200
        assert fallback.context["first_day"] == timeline.default_first_day(
            timezone.localdate(timezone=LISBON)
        )


def test_the_timeline_is_linked_from_the_listing_the_reservation_and_the_property(client, scene):
    client.force_login(scene.org.staff)
    url = reverse("listing_timeline", args=[scene.listing.pk])
    listing_page = client.get(reverse("admin:properties_listing_change", args=[scene.listing.pk]))
    assert url in listing_page.content.decode()
    reservation_page = client.get(
        reverse("admin:reservations_reservation_change", args=[scene.first.pk])
    )
    assert f"{url}?around=2025-06-11" in reservation_page.content.decode()  # its check-in
    around = client.get(f"{url}?around=2025-06-11")
    assert around.context["first_day"] == datetime.date(2025, 6, 8)  # a few days before
    property_page = client.get(
        reverse("admin:properties_property_change", args=[scene.listing.property_id])
    )
    assert reverse("property_timeline", args=[scene.listing.property_id]) in (
        property_page.content.decode()
    )


def test_the_dashboard_links_each_arrival_to_its_listings_timeline(client, org_a):
    Reservation.objects.filter(pk=org_a.reservation.pk).update(
        check_in=local(datetime.date(2025, 6, 10), 15),
        check_out=local(datetime.date(2025, 6, 12), 11),
    )
    client.force_login(org_a.staff)
    with time_machine.travel(NOW, tick=False):
        html = client.get(reverse("dashboard")).content.decode()
    arrivals = html.split('id="arrivals"', 1)[1].split('id="departures"', 1)[0]
    assert org_a.reservation.guest_name in arrivals
    assert reverse("listing_timeline", args=[org_a.listing.pk]) in arrivals


def test_queries_do_not_grow_with_stays_or_doors(client, org_a, django_assert_max_num_queries):
    client.force_login(org_a.manager)
    listing = org_a.listing
    url = listing_url(listing, start="2025-06-07")

    def stays(count, first):
        for n in range(count):
            day = first + datetime.timedelta(days=n)
            services.reservation_create(
                listing=listing,
                guest_name=f"Guest {n}",
                check_in=listing.local_check_in(day),
                check_out=listing.local_check_out(day + DAY),
                status=Reservation.Status.CONFIRMED,
            )

    with time_machine.travel(NOW, tick=False):
        Reservation.objects.filter(pk=org_a.reservation.pk).update(
            check_in=NOW + 90 * DAY, check_out=NOW + 91 * DAY
        )
        stays(1, datetime.date(2025, 6, 8))
        with django_assert_max_num_queries(100) as few:
            assert client.get(url).status_code == 200
        for n in range(3):
            device = DeviceFactory(connection=org_a.device.connection, name=f"Extra {n}")
            lock_services.assignment_create(
                listing=listing, device=device, role="secondary", guest_access=True
            )
        stays(15, datetime.date(2025, 6, 10))
        UnmanagedCode.objects.create(
            organization=org_a.organization,
            device=org_a.device,
            provider_id="ac_x",
            name="Owner",
            first_seen_at=NOW,
            last_seen_at=NOW,
        )
        services.override_set(
            reservation=Reservation.objects.get(guest_name="Guest 3"),
            assignment=org_a.assignment,
            lead_time_minutes=60,
        )
        with django_assert_max_num_queries(len(few)):
            page = client.get(url)
    assert page.content.decode().count('class="ks-bar ks-code') >= 16 * 4


def test_a_property_timeline_reads_a_fixed_number_of_queries_for_any_number_of_listings(
    client, org_a, django_assert_max_num_queries
):
    client.force_login(org_a.manager)
    url = reverse("property_timeline", args=[org_a.property.pk])
    with django_assert_max_num_queries(100) as few:
        client.get(url)
    for n in range(4):
        listing = ListingFactory(property=org_a.property, name=f"Flat {n}")
        device = DeviceFactory(connection=org_a.device.connection)
        LockAssignment.objects.create(listing=listing, device=device, role="primary")
    with django_assert_max_num_queries(len(few)):
        page = client.get(url)
    assert page.content.decode().count('class="ks-group"') == 5


def test_another_organizations_listing_is_never_drawn(org_a, org_b):
    other = make_org("Charlie")
    drawing = timeline.build_timeline(
        listings=[org_a.listing],
        first_day=timezone.localdate() - DAY,
        days=10,
        now=timezone.now(),
        zone=LISBON,
    )
    shown = {bar.reservation_id for bar in drawing.bars}
    assert org_b.reservation.pk not in shown and other.reservation.pk not in shown
    assert org_a.reservation.pk in shown


def test_the_timeline_index_lists_ones_own_properties(manager_client, org_a, org_b):
    from tests.factories import PropertyFactory

    second = PropertyFactory(organization=org_a.organization, name="Hillside")
    page = manager_client.get("/admin/timeline/")
    html = page.content.decode()
    assert page.status_code == 200
    assert f"/admin/timeline/property/{second.pk}/" in html
    assert f"/admin/timeline/listing/{org_a.listing.pk}/" in html
    assert org_b.property.name not in html


def test_with_one_property_the_timeline_index_opens_its_timeline(manager_client, org_a):
    response = manager_client.get("/admin/timeline/")
    assert response["Location"] == f"/admin/timeline/property/{org_a.property.pk}/"
