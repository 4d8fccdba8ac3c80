"""Each list of the dashboard shows its first rows, its count and "see all": the admin list
filtered by the same condition, which holds the same rows (reservations/sections.py)."""

import re

import pytest
import time_machine
from django.urls import reverse

from reservations import sections, services
from reservations.models import Reservation
from tests.factories import ListingFactory
from tests.reservations.test_dashboard import section
from tests.reservations.test_dashboard_truth import at_local, populate, the_day

pytestmark = pytest.mark.django_db

N = 5


@pytest.fixture
def few_rows(monkeypatch):
    """Lists cut at 3 rows: 5 of everything go past the cut."""
    monkeypatch.setattr(sections, "SECTION_ROWS", 3)


def see_all(html: str) -> tuple[str, str]:
    """The "See all" link of a part of the page: (its URL, its text)."""
    found = re.search(
        r'<tr class="ks-see-all"><td colspan="\d+"><a href="([^"]+)">([^<]+)</a>', html
    )
    assert found, "no See all row"
    return found.group(1).replace("&amp;", "&"), found.group(2)


def changelist_guests(client, url: str, tag: str) -> set[str]:
    """The guests (of this test's rows, by their tag) that an admin list shows."""
    page = client.get(url).content.decode()
    return set(re.findall(rf">((?:Today|Tomorrow|Leaving|Ended|Nodoor) {tag}\d+)<", page))


def test_each_list_shows_its_first_rows_its_count_and_the_same_rows_one_click_away(
    org_a, manager_client, settings, few_rows
):
    with time_machine.travel(at_local(0, 16), tick=False):
        populate(org_a, N, "s", settings)
        page = manager_client.get(reverse("dashboard")).content.decode()
        checks = {
            # section id: (heading, row class or marker, the guests its rows are about)
            "failing": ("Codes failing (5)", "<tr>", "Today"),
            "late": ("Codes late (5)", 'class="ks-late"', "Tomorrow"),
            "no-door": ("Stays with a code but no door (5)", 'class="ks-no-door"', "Nodoor"),
        }
        for name, (heading, row, guest) in checks.items():
            part = section(page, name)
            assert heading in part
            body = part.split("<tbody>", 1)[1]
            assert body.count(row) == 3, name
            url, text = see_all(part)
            assert text.startswith("See all 5 ")
            # The admin list behind "see all" holds the stays of all five rows, no other.
            expected = {f"{guest} s{i}" for i in range(N)}
            assert changelist_guests(manager_client, url, "s") == expected, name
        today = the_day(page, "arrivals", "today")
        assert "Today (5)" in today and today.count('class="ks-arrival"') == 3
        url, text = see_all(today)
        assert text.startswith("See all 5 today")
        assert changelist_guests(manager_client, url, "s") == {f"Today s{i}" for i in range(N)}
        leaving = the_day(page, "departures", "today")
        assert leaving.count('class="ks-departure"') == 3
        url, _ = see_all(leaving)
        assert changelist_guests(manager_client, url, "s") == {
            *(f"Leaving s{i}" for i in range(N)),
            *(f"Ended s{i}" for i in range(N)),
        }
        # Locks in trouble: three of them, the lock list behind "see all" has all five.
        locks = section(page, "alerts")
        assert locks.count('class="ks-lock"') == 3
        url, _ = see_all(locks)
        devices = manager_client.get(url).content.decode()
        assert all(f"Sick s{i}" in devices for i in range(N))


def test_a_count_stops_at_the_cap(org_a, manager_client, settings, few_rows, monkeypatch):
    monkeypatch.setattr(sections, "COUNT_CAP", 4)
    with time_machine.travel(at_local(0, 16), tick=False):
        populate(org_a, N, "c", settings)
        page = manager_client.get(reverse("dashboard")).content.decode()
    assert "Codes failing (4+)" in page and "Codes late (4+)" in page
    assert see_all(section(page, "failing"))[1].startswith("See all 4+ ")


def test_double_bookings_show_the_first_pairs_and_link_to_their_stays(
    org_a, manager_client, few_rows
):
    for i in range(4):
        listing = ListingFactory(property=org_a.property, name=f"Twice {i}")
        for guest in ("First", "Second"):
            services.reservation_create(
                listing=listing,
                guest_name=f"{guest} d{i}",
                check_in=at_local(3 + i, 15),
                check_out=at_local(5 + i, 11),
                status=Reservation.Status.CONFIRMED,
            )
    page = manager_client.get(reverse("dashboard")).content.decode()
    part = section(page, "double-bookings")
    assert "Double bookings (4)" in part
    assert part.count('class="ks-double-booking"') == 3
    url, _ = see_all(part)
    listed = manager_client.get(url).content.decode()
    assert all(f"{guest} d{i}" in listed for guest in ("First", "Second") for i in range(4))
    assert "Alpha Guest" not in listed  # the organization's stay that overlaps nothing


def test_the_dashboards_queries_stay_the_same_past_the_cut(
    org_a, manager_client, settings, few_rows, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with time_machine.travel(at_local(0, 16), tick=False):
        populate(org_a, 1, "q", settings)
        with CaptureQueriesContext(connection) as one:
            manager_client.get(reverse("dashboard"))
        populate(org_a, 8, "r", settings)
        with django_assert_max_num_queries(len(one)):
            page = manager_client.get(reverse("dashboard")).content.decode()
    assert "Codes failing (9)" in page
    assert section(page, "failing").count("ks-see-all") == 1


def test_a_one_night_stay_is_in_todays_arrivals_and_tomorrows_departures_with_its_doors(
    wired, manager_client
):
    stay = wired.book(days_ahead=0, nights=1, guest_name="One Night")
    page = manager_client.get(reverse("dashboard")).content.decode()
    for module, day in (("arrivals", "today"), ("departures", "tomorrow")):
        part = the_day(page, module, day)
        assert "One Night" in part
    assert stay.listing.name in the_day(page, "departures", "tomorrow")


# The dashboard's queries with every list filled (double bookings, locks at risk, late and
# failing codes, stays without a door...), whatever their rows: sessions and permissions
# included. bench/scale.py counts the same page at 200,000 stays.
DASHBOARD_QUERIES = 49


def test_the_dashboard_reads_a_bounded_number_of_queries_with_every_list_filled(
    org_a, manager_client, settings, django_assert_max_num_queries
):
    with time_machine.travel(at_local(0, 16), tick=False):
        populate(org_a, 3, "f", settings)
        with django_assert_max_num_queries(DASHBOARD_QUERIES):
            page = manager_client.get(reverse("dashboard")).content.decode()
    assert re.search(r"Double bookings \([1-9]", page)
    assert "Codes failing (3)" in page
    assert "Stays with a code but no door (3)" in page
