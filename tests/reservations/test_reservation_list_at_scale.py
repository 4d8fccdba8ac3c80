"""The reservation changelist stays cheap however many stays and locks an organization has:
the locks column reads the listed page's locks only, the date hierarchy probes an index
instead of truncating every row, and no query of the page aggregates lock accesses."""

import datetime

import pytest
from django.contrib.admin import RelatedFieldListFilter
from django.contrib.admin.templatetags.admin_list import date_hierarchy
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.templatetags.admin_dates import indexed_date_hierarchy
from reservations.admin import ListingListFilter
from reservations.models import LockAccess, Reservation
from tests.factories import (
    DeviceFactory,
    ListingFactory,
    LockAssignmentFactory,
    PropertyFactory,
    ReservationFactory,
)

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:reservations_reservation_changelist")
State = LockAccess.State


def stay_with_locks(org, states, *, check_in=None, guest="Guest"):
    """A confirmed stay of org's listing with one lock access per state, on its own lock."""
    check_in = check_in or timezone.now() + datetime.timedelta(days=2)
    stay = ReservationFactory(
        listing=org.listing,
        guest_name=guest,
        check_in=check_in,
        check_out=check_in + datetime.timedelta(days=2),
        status=Reservation.Status.CONFIRMED,
    )
    for state in states:
        device = DeviceFactory(connection__organization=org.organization)
        LockAccess.objects.create(
            organization=org.organization,
            reservation=stay,
            assignment=LockAssignmentFactory(listing=org.listing, device=device),
            device=device,
            starts_at=stay.check_in,
            ends_at=stay.check_out,
            program_at=stay.check_in - datetime.timedelta(days=1),
            state=state,
        )
    return stay


def test_locks_column_shows_failing_then_confirmed_and_unconfirmed_locks(manager_client, org_a):
    stay_with_locks(org_a, [State.FAILED, State.FAILED, State.CONFIRMED], guest="Failing Fay")
    stay_with_locks(org_a, [State.CONFIRMED, State.REQUESTED, State.PLANNED], guest="Mixed Max")
    stay_with_locks(org_a, [State.PLANNED], guest="Planned Pia")
    response = manager_client.get(CHANGELIST)
    rows = {
        stay.guest_name: response.context["cl"].model_admin.locks(stay)
        for stay in response.context["cl"].result_list
    }
    assert "2 failing" in rows["Failing Fay"]
    assert rows["Mixed Max"].endswith("<small>1 confirmed, 1 not yet confirmed</small>")
    assert rows["Planned Pia"].endswith("<small>—</small>")
    page = response.content.decode()
    assert "2 failing" in page and "1 confirmed, 1 not yet confirmed" in page


def test_no_query_of_the_list_joins_or_groups_lock_accesses(manager_client, org_a):
    for day in range(5):
        stay_with_locks(
            org_a,
            [State.CONFIRMED, State.REQUESTED],
            check_in=timezone.now() + datetime.timedelta(days=day),
        )
    for url in (
        CHANGELIST,
        CHANGELIST + "?q=Guest",
        CHANGELIST + f"?check_in__year={timezone.now().year}",
    ):
        with CaptureQueriesContext(connection) as captured:
            assert manager_client.get(url).status_code == 200
        sqls = [query["sql"] for query in captured.captured_queries]
        assert not [sql for sql in sqls if "GROUP BY" in sql.upper()], url
        touching = [sql for sql in sqls if "reservations_lockaccess" in sql]
        # One query reads the locks: those of the listed stays, by their ids.
        assert len(touching) == 1, url
        assert '"reservations_lockaccess"."reservation_id" IN (' in touching[0], url
        assert " JOIN " not in touching[0], url


def test_date_hierarchy_truncates_no_row(manager_client, org_a):
    for days in (-400, -30, 0, 45):
        stay_with_locks(org_a, [], check_in=timezone.now() + datetime.timedelta(days=days))
    year = timezone.now().year
    for url in (
        CHANGELIST,
        f"{CHANGELIST}?check_in__year={year}",
        f"{CHANGELIST}?q=Guest",
        f"{CHANGELIST}?q=Guest&check_in__year={year}",
    ):
        with CaptureQueriesContext(connection) as captured:
            manager_client.get(url)
        sqls = " ".join(query["sql"].lower() for query in captured.captured_queries)
        # SQLite's django_datetime_trunc is a Python call per row; PostgreSQL's DATE_TRUNC
        # reads every row too.
        assert "datetime_trunc" not in sqls and "date_trunc" not in sqls


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Tokyo"])
def test_date_hierarchy_offers_what_djangos_would(manager_client, org_a, zone):
    """Same levels, years, months, days, links and titles as Django's own date hierarchy,
    in the current time zone (stays near midnight fall on different local days)."""
    base = datetime.datetime(2025, 12, 31, 23, 30, tzinfo=datetime.UTC)
    for hours in (0, 1, 24 * 3, 24 * 40, 24 * 400, -24 * 200):
        stay_with_locks(org_a, [], check_in=base + datetime.timedelta(hours=hours))
    levels = [
        "",
        "?check_in__year=2025",
        "?check_in__year=2026",
        "?check_in__year=2026&check_in__month=1",
        "?check_in__year=2026&check_in__month=1&check_in__day=1",
    ]
    # With a search, the periods come from one pass over the matches, not from probes.
    levels += [f"{query or '?'}&q=Guest".replace("?&", "?") for query in levels]
    with timezone.override(zone):
        for query in levels:
            cl = manager_client.get(CHANGELIST + query).context["cl"]
            ours = indexed_date_hierarchy(cl)
            djangos = date_hierarchy(cl)
            assert ours == djangos, (zone, query)
        assert ours["choices"]  # the levels above hold stays: not a comparison of nothing


def test_date_hierarchy_of_a_single_month_starts_at_its_days(manager_client, org_a):
    org_a.reservation.delete()
    base = datetime.datetime(2026, 3, 3, 12, tzinfo=datetime.UTC)
    for days in (0, 5, 9):
        stay_with_locks(org_a, [], check_in=base + datetime.timedelta(days=days))
    cl = manager_client.get(CHANGELIST).context["cl"]
    ours = indexed_date_hierarchy(cl)
    assert ours == date_hierarchy(cl)
    assert [choice["title"] for choice in ours["choices"]] == ["March 3", "March 8", "March 12"]


def test_query_count_stays_the_same_as_stays_and_locks_grow(
    manager_client, org_a, django_assert_max_num_queries
):
    def grow(count):
        for n in range(count):
            stay_with_locks(
                org_a,
                [State.CONFIRMED, State.FAILED],
                check_in=timezone.now() + datetime.timedelta(days=3 * n, hours=n),
            )

    grow(3)
    url = CHANGELIST + "?all="
    with CaptureQueriesContext(connection) as few:
        manager_client.get(url)
    grow(60)
    for page in (url, CHANGELIST, CHANGELIST + "?q=Guest", CHANGELIST + "?codes=failing"):
        with django_assert_max_num_queries(len(few.captured_queries)):
            response = manager_client.get(page)
        assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 50  # a full page of failing stays


def test_property_and_listing_filters_read_no_reservation(manager_client, org_a, org_b):
    annex = PropertyFactory(organization=org_a.organization, name="Annex")
    second = ListingFactory(property=annex, name="Second Flat")
    with CaptureQueriesContext(connection) as captured:
        response = manager_client.get(CHANGELIST)
    choices = {
        spec.title: [label for _, label in spec.lookup_choices]
        for spec in response.context["cl"].filter_specs
        if isinstance(spec, RelatedFieldListFilter)
    }
    assert choices["property"] == [org_a.property.name, annex.name]  # not Bravo's  # not Bravo's
    assert choices["listing"] == [org_a.listing.name, second.name]
    for query in captured.captured_queries:
        sql = query["sql"]
        if 'FROM "properties_listing"' in sql:  # the filters' one query
            assert "reservations_reservation" not in sql


def test_listing_filter_waits_for_a_property_when_listings_are_many(manager_client, org_a):
    other = PropertyFactory(organization=org_a.organization, name="Annex")
    ListingFactory.create_batch(ListingListFilter.MAX_WITHOUT_PROPERTY, property=other)
    sibling = ListingFactory(property=org_a.property, name="Alpha Loft")
    response = manager_client.get(CHANGELIST)
    titles = [spec.title for spec in response.context["cl"].filter_specs]
    assert "listing" not in titles and "property" in titles
    response = manager_client.get(CHANGELIST, {"listing__property__id__exact": org_a.property.pk})
    listing_filter = next(s for s in response.context["cl"].filter_specs if s.title == "listing")
    assert [label for _, label in listing_filter.lookup_choices] == [
        org_a.listing.name,
        sibling.name,
    ]
    # A listing chosen from elsewhere (a link) still narrows the list.
    response = manager_client.get(CHANGELIST, {"listing__id__exact": org_a.listing.pk})
    assert [r.pk for r in response.context["cl"].result_list] == [org_a.reservation.pk]


def test_listing_filter_lists_every_listing_when_they_are_few(manager_client, org_a):
    sibling = ListingFactory(property=org_a.property, name="Alpha Loft")
    response = manager_client.get(CHANGELIST)
    listing_filter = next(s for s in response.context["cl"].filter_specs if s.title == "listing")
    assert [label for _, label in listing_filter.lookup_choices] == [
        org_a.listing.name,
        sibling.name,
    ]


def test_search_finds_guests_by_any_field_and_by_their_listings_name(manager_client, org_a):
    annex = ListingFactory(property=org_a.property, name="Harbour Loft")
    lena = ReservationFactory(
        listing=annex, guest_name="Lena Ribeiro", guest_email="lena@example.org"
    )
    omar = ReservationFactory(
        listing=org_a.listing, guest_name="Omar Haddad", external_id="BK-7731"
    )

    def found(term):
        response = manager_client.get(CHANGELIST, {"q": term})
        return {r.pk for r in response.context["cl"].result_list}

    assert found("ribeiro") == {lena.pk}
    assert found("lena@example") == {lena.pk}
    assert found("BK-773") == {omar.pk}
    assert found("harbour") == {lena.pk}  # the listing's name
    assert found("harbour omar") == set()  # every word must match
    assert found("loft lena") == {lena.pk}
    assert found('"Omar Haddad"') == {omar.pk}
    with CaptureQueriesContext(connection) as captured:
        manager_client.get(CHANGELIST, {"q": "harbour"})
    searching = [q["sql"] for q in captured.captured_queries if "harbour" in q["sql"].lower()]
    # The listings' names are read in a subquery, never from a listing joined per row.
    assert searching and not [s for s in searching if '"properties_listing"."name" LIKE' in s]
