"""A manager in Chromium takes away the activity of one lock for one week, as a damage
claim needs it: filter the lock events by the door and "Past 7 days", press Export, choose
CSV, and the file holds that door's week and nothing else."""

import csv
import datetime
import io
import pathlib

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from reservations.models import LockEvent
from tests.e2e.browser import sign_in
from tests.factories import DeviceFactory, LockAssignmentFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _event(device, n, *, days_ago, person):
    LockEvent.objects.create(
        organization_id=device.organization_id,
        connection_id=device.connection_id,
        device=device,
        provider_event_id=f"evt_{device.pk}_{n}",
        event_type="lock.unlocked",
        kind=LockEvent.Kind.UNLOCKED,
        method=LockEvent.Method.KEYPAD,
        occurred_at=timezone.now() - datetime.timedelta(days=days_ago),
        person_name=person,
    )


def test_a_manager_exports_one_locks_week(page, live_server, org_a, org_b):
    back = DeviceFactory(connection=org_a.device.connection, name="Alpha Back Door")
    LockAssignmentFactory(listing=org_a.listing, device=back)
    _event(org_a.device, 1, days_ago=1, person="Maria Costa")
    _event(org_a.device, 2, days_ago=3, person="=HYPERLINK(1)")
    _event(org_a.device, 3, days_ago=12, person="Last Month")
    _event(back, 4, days_ago=2, person="Back Door Person")
    _event(org_b.device, 5, days_ago=1, person="Bravo Person")

    sign_in(page, live_server, org_a.manager.username)
    page.goto(f"{live_server.url}/admin/reservations/lockevent/")
    filters = page.locator("#changelist-filter")
    filters.get_by_role("link", name="Alpha Front Door", exact=True).click()
    filters.get_by_role("link", name="Past 7 days").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(2)

    page.locator(".object-tools").get_by_role("link", name="Export").click()
    page.select_option("#id_format", label="csv")
    with page.expect_download() as download:
        page.get_by_role("button", name="Submit").click()
    text = pathlib.Path(download.value.path()).read_text(encoding="utf-8-sig")
    found = list(csv.DictReader(io.StringIO(text)))
    assert sorted(r["who"] for r in found) == ["'=HYPERLINK(1)", "Maria Costa"]
    assert {r["lock"] for r in found} == {"Alpha Front Door"}
    assert {r["time zone"] for r in found} == {"Europe/Lisbon"}
