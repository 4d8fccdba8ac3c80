"""The dashboard's crew and verification lists: a failing crew code is among "Codes
failing" (its count and its own "see all"), and the turnovers' and unverified guests'
counts link to admin lists that hold exactly the rows they count."""

import re

import pytest
from django.urls import reverse

from reservations import sections
from reservations.models import LockAccess, Turnover
from tests.fixtures_lifecycle import run_at, same_day_pair
from tests.reservations.test_dashboard import section

pytestmark = pytest.mark.django_db


def heading(part: str) -> tuple[str, int]:
    """(the link, the count) of a section's heading."""
    found = re.search(r'<h2><a href="([^"]+)">[^<(]+\((\d+)\)</a></h2>', part)
    assert found, part[:300]
    return found.group(1).replace("&amp;", "&"), int(found.group(2))


def listed(client, url: str) -> int:
    """How many rows an admin list shows (its action checkboxes)."""
    page = client.get(url).content.decode()
    return page.count('name="_selected_action"')


def test_a_failing_crew_code_is_among_the_codes_failing(crew, manager_client, client, org_b):
    first, _second = same_day_pair(crew)
    turnover = Turnover.objects.get(after_stay=first)
    program_at = min(a.program_at for a in turnover.lock_accesses.all())
    crew.fake.control("/outage", routes=["/access_codes/create"])
    try:
        run_at(program_at)
    finally:
        crew.fake.control("/outage", routes=[])
    crew_failing = LockAccess.objects.filter(turnover=turnover, state=LockAccess.State.FAILED)
    assert crew_failing.count() == 2  # the gate and the back door, the crew's doors
    every_failing = LockAccess.objects.filter(state=LockAccess.State.FAILED).count()

    part = section(manager_client.get(reverse("dashboard")).content.decode(), "failing")
    assert heading(part)[1] == every_failing > 2  # Maria's guest codes fail too
    rows = re.findall(r'<tr class="ks-crew-code" data-turnover="(\d+)">', part)
    assert rows == [str(turnover.pk)] * 2
    assert reverse("admin:reservations_turnover_change", args=[turnover.pk]) in part
    assert "Cleaner Rosa" in part
    # The turnovers whose crew code fails, one click away: this one.
    url = reverse("admin:reservations_turnover_changelist") + "?codes=failing"
    assert listed(manager_client, url) == 1
    # Another organization sees none of it.
    client.force_login(org_b.manager)
    other = section(client.get(reverse("dashboard")).content.decode(), "failing")
    assert heading(other)[1] == 0 and "ks-crew-code" not in other


def test_crew_codes_past_the_cut_have_their_own_see_all(crew, manager_client, monkeypatch):
    first, _second = same_day_pair(crew)
    turnover = Turnover.objects.get(after_stay=first)
    crew.fake.control("/outage", routes=["/access_codes/create"])
    try:
        run_at(min(a.program_at for a in turnover.lock_accesses.all()))
    finally:
        crew.fake.control("/outage", routes=[])
    monkeypatch.setattr(sections, "SECTION_ROWS", 1)
    part = section(manager_client.get(reverse("dashboard")).content.decode(), "failing")
    links = re.findall(r'<tr class="ks-see-all"><td colspan="\d+"><a href="([^"]+)">([^<]+)', part)
    crew_links = [(u, t) for u, t in links if "crew codes" in t]
    assert crew_links, links
    url, text = crew_links[0]
    assert url.endswith("/turnover/?codes=failing") and "See all 2 crew codes failing" in text


def test_the_turnover_count_is_the_rows_of_its_list(midday, crew, manager_client, monkeypatch):
    # Stays leaving today, tomorrow and next week: turnovers after each, two of them soon.
    crew.book(days_ahead=-1, nights=1, guest_name="Leaving today")
    crew.book(days_ahead=0, nights=1, guest_name="Leaving tomorrow")
    crew.book(days_ahead=5, nights=2, guest_name="Leaving next week")
    assert Turnover.objects.count() >= 3
    monkeypatch.setattr(sections, "SECTION_ROWS", 1)
    part = section(manager_client.get(reverse("dashboard")).content.decode(), "turnovers")
    url, count = heading(part)
    assert count == 2 and part.count('class="ks-turnover"') == 1  # cut at one row
    assert listed(manager_client, url) == count
    see_all = re.search(r'<tr class="ks-see-all"><td colspan="\d+"><a href="([^"]+)">', part)
    assert see_all.group(1).replace("&amp;", "&") == url


def test_the_unverified_count_is_the_rows_of_its_list(wired, manager_client, settings):
    settings.VERIFICATION_ALERT_HOURS = 24
    wired.listing.requires_verification = True
    wired.listing.save()
    wired.book(days_ahead=0, nights=2, guest_name="Held today")
    wired.book(days_ahead=3, nights=2, guest_name="Held later")  # alert time not come
    page = manager_client.get(reverse("dashboard")).content.decode()
    part = section(page, "unverified")
    url, count = heading(part)
    assert count == 1 and "Held today" in part and "Held later" not in part
    assert listed(manager_client, url) == count
    assert "Held later" not in manager_client.get(url).content.decode()
