"""A manager offboards a cleaner in headless Chromium: opens the crew member, reads the
confirmation naming each door and code (masked), confirms, and reads the report: every
door's code cleared, and gone at Seam's fake."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from reservations.models import StandingAccess
from reservations.standing import standing_save
from tests.e2e.browser import sign_in
from tests.fixtures_lifecycle import run_at

pytestmark = pytest.mark.django_db(transaction=True)


def test_manager_offboards_a_cleaner_and_reads_the_report(page, live_server, crew):
    standing = StandingAccess(
        organization=crew.listing.organization,
        crew_member=crew.rosa,
        listing=crew.listing,
        starts_at=timezone.now() - datetime.timedelta(hours=1),
    )
    standing_save(standing=standing, doors=[crew.side])
    run_at(timezone.now())
    standing.refresh_from_db()
    assert all(
        any(c.name.startswith("KC") for c in crew.codes_on(d))
        for d in (crew.gate, crew.back, crew.side)
    )

    sign_in(page, live_server, "alpha-manager")
    page.goto(f"{live_server.url}/admin/properties/crewmember/{crew.rosa.pk}/change/")
    page.click("#offboard-link")
    codes = page.locator("#offboard-codes tbody tr")
    expect(codes).to_have_count(3)
    expect(codes.filter(has_text="Front gate")).to_contain_text(f"••••{standing.code[-2:]}")
    expect(page.locator("body")).not_to_contain_text(standing.code)
    page.click("input[value='Yes, offboard Rosa']")

    expect(page.locator(".messagelist")).to_contain_text("Rosa is offboarded")
    rows = page.locator("#clearance-report tr.cleared-code")
    expect(rows).to_have_count(3)
    for door in ("Front gate", "Fake August Lock 2", "Side Door"):
        expect(rows.filter(has_text=door)).to_contain_text("cleared")
    expect(page.locator("#clearance-report")).not_to_contain_text("pending")
    for device in (crew.gate, crew.back, crew.side):
        assert not any(c.name.startswith("KC") for c in crew.codes_on(device))
    crew.rosa.refresh_from_db()
    assert not crew.rosa.active
