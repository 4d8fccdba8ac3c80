"""The dashboard lists what needs attention, inside the person's organizations only."""

import pytest
from django.urls import reverse
from django.utils import timezone

from reservations.models import LockAccess
from tests.fixtures_lifecycle import run_at

pytestmark = pytest.mark.django_db


def test_failing_codes_offline_and_low_battery_locks_and_todays_arrivals(
    wired, manager_client, client, org_b
):
    arriving = wired.book(days_ahead=0, guest_name="Today Arrival")
    wired.fake.control("/outage", routes=["/access_codes/create"])
    try:
        run_at(timezone.now())
    finally:
        wired.fake.control("/outage", routes=[])
    page = manager_client.get(reverse("dashboard")).content.decode()
    assert "Codes failing (2)" in page and "Seam is unavailable" in page
    assert "Pool House" in page  # offline at the fake
    assert "battery 12%" in page  # Side Door
    assert "Today Arrival" in page
    # Another organization's manager sees none of it.
    client.force_login(org_b.manager)
    other = client.get(reverse("dashboard")).content.decode()
    assert "Codes failing (0)" in other and "Today Arrival" not in other
    # Resolved failures leave the dashboard.
    LockAccess.objects.filter(reservation=arriving).update(due_at=timezone.now())
    run_at(timezone.now())
    assert "Codes failing (0)" in manager_client.get(reverse("dashboard")).content.decode()


def test_dashboard_queries_do_not_grow_with_failures(
    wired, manager_client, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    wired.book(days_ahead=5, guest_name="One")
    LockAccess.objects.update(state=LockAccess.State.FAILED, last_error="x")
    with CaptureQueriesContext(connection) as few:
        manager_client.get(reverse("dashboard"))
    for n in range(10):
        wired.book(days_ahead=10 + 3 * n, nights=2, guest_name=f"Guest {n}")
    LockAccess.objects.update(state=LockAccess.State.FAILED, last_error="x")
    with django_assert_max_num_queries(len(few)):
        manager_client.get(reverse("dashboard"))
