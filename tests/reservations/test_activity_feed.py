"""The activity feed: every lock event of one's organizations, filtered, paginated."""

import datetime
import itertools

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from locks.models import UnmanagedCode
from reservations.models import LockEvent
from tests.factories import (
    DeviceFactory,
    ListingFactory,
    LockAssignmentFactory,
    PropertyFactory,
)

pytestmark = pytest.mark.django_db

FEED = "/admin/activity/"
_ids = itertools.count()


def events(device, count=1, *, at=None, kind=LockEvent.Kind.UNLOCKED, **fields):
    """`count` events on a lock, one a minute back from `at` (newest first)."""
    at = at or timezone.now()
    fields.setdefault("method", LockEvent.Method.KEYPAD)
    return LockEvent.objects.bulk_create(
        [
            LockEvent(
                organization_id=device.organization_id,
                connection_id=device.connection_id,
                device=device,
                provider_event_id=f"evt_{next(_ids)}",
                event_type="lock.unlocked",
                kind=kind,
                occurred_at=at - datetime.timedelta(minutes=n),
                **fields,
            )
            for n in range(count)
        ],
        batch_size=1000,
    )


def feed(client, **filters) -> str:
    response = client.get(FEED, filters)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def second_place(org_a):
    """Another property of org_a, with its own listing and lock."""
    prop = PropertyFactory(organization=org_a.organization, name="Hillside", time_zone="UTC")
    listing = ListingFactory(property=prop, name="Hillside Loft")
    device = DeviceFactory(connection=org_a.device.connection, name="Loft Door")
    LockAssignmentFactory(listing=listing, device=device, role="primary")
    return prop, listing, device


def test_the_feed_lists_events_newest_first_with_who_opened_the_door(manager_client, org_a):
    now = timezone.now()
    cleaner = UnmanagedCode.objects.create(
        organization=org_a.organization,
        device=org_a.device,
        provider_id="ac_1",
        name="Cleaner Ana",
        first_seen_at=now,
        last_seen_at=now,
    )
    events(org_a.device, at=now - datetime.timedelta(hours=3), method=LockEvent.Method.MANUAL)
    events(
        org_a.device,
        at=now - datetime.timedelta(hours=2),
        unmanaged_code=cleaner,
        person_name="Cleaner Ana",
    )
    events(
        org_a.device,
        at=now - datetime.timedelta(hours=1),
        reservation=org_a.reservation,
        person_name="Alpha Guest",
    )
    html = feed(manager_client)
    assert html.index("Alpha Guest") < html.index("Cleaner Ana") < html.index("Manual")
    assert reverse("admin:reservations_reservation_change", args=[org_a.reservation.pk]) in html
    assert "code from the lock&#x27;s app" in html or "code from the lock's app" in html
    assert "Alpha Front Door" in html and "Alpha Flat" in html  # the lock and its listing
    assert "3 events" in html


def test_the_feed_filters_by_property_listing_lock_person_kind_and_dates(
    manager_client, org_a, second_place
):
    prop, listing, loft = second_place
    day = datetime.datetime(2026, 3, 10, 12, tzinfo=datetime.UTC)
    events(org_a.device, at=day, person_name="Maria Silva")
    events(loft, at=day + datetime.timedelta(days=10), person_name="João Costa")
    events(loft, at=day, kind=LockEvent.Kind.OFFLINE, method="", detail="Wi-Fi bridge lost")

    def names(**filters):
        html = feed(manager_client, **filters)
        return {n for n in ("Maria Silva", "João Costa", "Wi-Fi bridge lost") if n in html}

    everything = {"Maria Silva", "João Costa", "Wi-Fi bridge lost"}
    assert names() == everything
    assert names(property=org_a.property.pk) == {"Maria Silva"}
    assert names(property=prop.pk) == {"João Costa", "Wi-Fi bridge lost"}
    assert names(listing=listing.pk) == {"João Costa", "Wi-Fi bridge lost"}
    assert names(lock=org_a.device.pk) == {"Maria Silva"}
    assert names(person="joão") == {"João Costa"}
    assert names(kind=LockEvent.Kind.OFFLINE) == {"Wi-Fi bridge lost"}
    assert names(date_from="2026-03-15") == {"João Costa"}
    assert names(date_to="2026-03-10") == {"Maria Silva", "Wi-Fi bridge lost"}
    assert names(date_from="2026-03-11", date_to="2026-03-19") == set()


def test_a_page_takes_the_same_number_of_queries_for_10_and_10000_events(
    manager_client, org_a, second_place, django_assert_max_num_queries
):
    events(org_a.device, 5, reservation=org_a.reservation, person_name="Alpha Guest")
    events(second_place[2], 5, method=LockEvent.Method.MANUAL)

    def queries(**filters) -> int:
        with CaptureQueriesContext(db) as captured:
            feed(manager_client, **filters)
        return len(captured.captured_queries)

    with_10 = queries()
    with_10_filtered = queries(property=org_a.property.pk, person="alpha", date_from="2020-01-01")
    events(org_a.device, 5000, reservation=org_a.reservation, person_name="Alpha Guest")
    events(second_place[2], 5000, method=LockEvent.Method.MANUAL)
    assert LockEvent.objects.count() == 10_010
    with django_assert_max_num_queries(with_10):
        html = feed(manager_client)
    assert "10010 events" in html and "Page 1 of 201" in html
    with django_assert_max_num_queries(with_10):
        feed(manager_client, page=150)
    with django_assert_max_num_queries(with_10_filtered):
        feed(manager_client, property=org_a.property.pk, person="alpha", date_from="2020-01-01")


def test_pages_go_from_newest_to_oldest(manager_client, org_a):
    now = timezone.now()
    events(org_a.device, 60, at=now, person_name="Newer Guest")
    events(org_a.device, 60, at=now - datetime.timedelta(days=1), person_name="Older Guest")
    first = feed(manager_client)
    assert "Newer Guest" in first and "Older Guest" not in first
    last = feed(manager_client, page=3)
    assert "Older Guest" in last and "Newer Guest" not in last
    assert "Page 3 of 3" in last and "← Newer" in last
    filtered = feed(manager_client, person="older", page=2)
    assert "Older Guest" in filtered and "person=older&amp;page=1" in filtered


def test_another_organizations_events_are_never_visible(client, org_a, org_b):
    events(org_a.device, person_name="Alpha Guest")
    events(org_b.device, person_name="Bravo Guest")
    client.force_login(org_a.manager)
    assert "Bravo Guest" not in feed(client)
    # Naming another organization's lock, listing or property is refused, never obeyed.
    for field, value in [
        ("lock", org_b.device.pk),
        ("listing", org_b.listing.pk),
        ("property", org_b.property.pk),
    ]:
        html = feed(client, **{field: value})
        assert "Bravo Guest" not in html and "Select a valid choice" in html
    assert "Bravo Front Door" not in feed(client)  # not even among the filter's choices
    # Nor through the admin's list of events.
    changelist = client.get(reverse("admin:reservations_lockevent_changelist")).content.decode()
    assert "Alpha Guest" in changelist and "Bravo Guest" not in changelist
    bravo_event = LockEvent.objects.get(person_name="Bravo Guest")
    change = reverse("admin:reservations_lockevent_change", args=[bravo_event.pk])
    assert client.get(change).status_code == 404

    client.force_login(org_b.manager)
    html = feed(client)
    assert "Bravo Guest" in html and "Alpha Guest" not in html


def test_staff_see_the_feed_and_signed_out_people_do_not(client, org_a):
    events(org_a.device, person_name="Alpha Guest")
    assert client.get(FEED).status_code == 302  # to the sign-in page
    client.force_login(org_a.staff)
    assert "Alpha Guest" in feed(client)


def test_events_are_read_only_in_the_admin(manager_client, org_a):
    (event,) = events(org_a.device, person_name="Alpha Guest")
    change = reverse("admin:reservations_lockevent_change", args=[event.pk])
    assert manager_client.get(change).status_code == 200
    assert manager_client.post(change, {"person_name": "Someone"}).status_code == 403
    delete = reverse("admin:reservations_lockevent_delete", args=[event.pk])
    assert manager_client.post(delete, {"post": "yes"}).status_code == 403
    assert LockEvent.objects.get(pk=event.pk).person_name == "Alpha Guest"


def test_the_activity_feed_refuses_dates_out_of_range(manager_client):
    response = manager_client.get(reverse("activity_feed"), {"date_to": "9999-12-31"})
    assert response.status_code == 200
    assert "between the years 2000 and 2100" in response.content.decode()


def test_the_feed_names_its_zones_and_exports_the_same_events(manager_client, org_a):
    from tests.core.test_records_export import rows

    now = timezone.now()
    events(org_a.device, 2, at=now, person_name="Maria Costa")
    events(org_a.device, 1, at=now - datetime.timedelta(days=30), person_name="Old Visit")
    day = (now - datetime.timedelta(days=3)).date().isoformat()
    page = feed(manager_client, lock=org_a.device.pk, date_from=day)
    assert "Europe/Lisbon" in page.split('id="zones"', 1)[1].split("</p>", 1)[0]
    url = page.split('id="export-events"', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0]
    url = url.replace("&amp;", "&")
    assert url.startswith("/admin/reservations/lockevent/export/?")
    response = manager_client.post(
        url, {"format": "0", "resource": "0", "lockeventresource_who": "on"}
    )
    assert [r["who"] for r in rows(response)] == ["Maria Costa", "Maria Costa"]


def test_staff_get_no_export_link_on_the_feed(staff_client, org_a):
    assert 'id="export-events"' not in feed(staff_client)
