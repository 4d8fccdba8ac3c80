"""The dashboard lists what needs attention, inside the person's organizations only."""

import datetime

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from locks.models import Device, LockAssignment
from reservations.models import DeviceAlert, LockAccess, Reservation
from reservations.prearrival import prearrival_run_due
from tests.factories import (
    DeviceFactory,
    ListingFactory,
    LockAssignmentFactory,
    ReservationFactory,
)
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


# ------------------------------------------------------------ before the guest arrives


def section(page: str, name: str) -> str:
    """One module of the dashboard's HTML, by its id."""
    start = page.index(f'<div class="module" id="{name}">')
    end = page.find('<div class="module"', start + 1)
    return page[start : end if end != -1 else None]


def test_a_lock_in_trouble_before_an_arrival_comes_first(wired, manager_client, org_b, client):
    soon = wired.book(days_ahead=1, guest_name="Soon Arrival")
    wired.book(days_ahead=6, nights=2, guest_name="Later Arrival")
    Device.objects.filter(pk__in=[wired.gate.pk, wired.back.pk]).update(online=False)

    page = manager_client.get(reverse("dashboard")).content.decode()
    first_module = page.index('<div class="module"')
    assert page.index('id="lock-health"') == first_module + len('<div class="module" ')
    health = section(page, "lock-health")
    assert "Locks in trouble before an arrival (2)" in health
    # Side Door is at 12 % at the fake; Garden Gate went offline.
    assert "Garden Gate" in health and "offline" in health
    assert "Side Door" in health and "battery 12%" in health
    assert "Soon Arrival" in health and str(wired.listing) in health
    zone = wired.listing.property.zone
    assert soon.check_in.astimezone(zone).strftime("%H:%M") in health
    assert "Later Arrival" not in health  # beyond 48 hours
    assert "Fake August Lock 2" not in health  # offline, but no guest access

    # The organization's threshold decides what a low battery is.
    org = wired.listing.property.organization
    org.low_battery_percent = 10
    org.save()
    health = section(manager_client.get(reverse("dashboard")).content.decode(), "lock-health")
    assert "Side Door" not in health and "Garden Gate" in health

    # Ended, cancelled stays and other organizations' people raise nothing.
    client.force_login(org_b.manager)
    other = section(client.get(reverse("dashboard")).content.decode(), "lock-health")
    assert "Locks in trouble before an arrival (0)" in other and "Soon Arrival" not in other
    Reservation.objects.filter(pk=soon.pk).update(ended_at=timezone.now())
    health = section(manager_client.get(reverse("dashboard")).content.decode(), "lock-health")
    assert "Locks in trouble before an arrival (0)" in health


def test_lock_health_queries_stay_flat_from_1_to_30_arrivals(
    org_a, manager_client, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    offline = DeviceFactory(connection__organization=org_a.organization, online=False)
    low = DeviceFactory(connection__organization=org_a.organization, battery_level=0.05)

    def arrivals(n):
        for i in range(n):
            listing = ListingFactory(property=org_a.property, name=f"Flat {i}-{n}")
            LockAssignmentFactory(listing=listing, device=offline, guest_access=True)
            LockAssignmentFactory(listing=listing, device=low, guest_access=True)
            ReservationFactory(
                listing=listing,
                guest_name=f"Guest {i}-{n}",
                check_in=timezone.now() + datetime.timedelta(hours=24),
            )

    arrivals(1)
    with CaptureQueriesContext(connection) as one:
        page = manager_client.get(reverse("dashboard")).content.decode()
    assert "Guest 0-1" in section(page, "lock-health")
    arrivals(29)
    with django_assert_max_num_queries(len(one)):
        page = manager_client.get(reverse("dashboard")).content.decode()
    health = section(page, "lock-health")
    assert health.count("Guest ") == 2 * 30  # each arrival under both locks
    assert "battery 5%" in health and "offline" in health


def test_managers_set_the_battery_threshold_in_the_organization_admin(org_a, client):
    url = reverse("admin:properties_organization_change", args=[org_a.organization.pk])
    client.force_login(org_a.manager)
    assert 'name="low_battery_percent" value="20"' in client.get(url).content.decode()
    for bad in (0, 100):
        response = client.post(url, {"name": org_a.organization.name, "low_battery_percent": bad})
        assert response.status_code == 200  # the form again, with its error
    response = client.post(url, {"name": org_a.organization.name, "low_battery_percent": 35})
    assert response.status_code == 302
    org_a.organization.refresh_from_db()
    assert org_a.organization.low_battery_percent == 35
    client.force_login(org_a.staff)
    client.post(url, {"name": org_a.organization.name, "low_battery_percent": 50})
    org_a.organization.refresh_from_db()
    assert org_a.organization.low_battery_percent == 35  # staff may not change it


def backup_code_scenario(wired):
    """A stay checking in within two days whose code the pool lock (August) never confirms:
    the 24-hour check raises the alert and pulls a backup code (as in test_prearrival).
    Returns the reservation and its lock access on that lock."""
    wired.listing.code_lead_time_minutes = 3 * 24 * 60
    wired.listing.save()
    pool_lock = Device.objects.get(
        connection=wired.connection, provider_device_id="august_device_1"
    )
    pool_lock.use_backup_pool = True
    pool_lock.full_clean()
    pool_lock.save()
    LockAssignment.objects.filter(listing=wired.listing).update(guest_access=False)
    LockAssignment.objects.create(listing=wired.listing, device=pool_lock, guest_access=True)
    reservation = wired.book(days_ahead=2, guest_name="Pre Arrival Guest")
    reservation = Reservation.objects.get(pk=reservation.pk)
    access = LockAccess.objects.get(reservation=reservation, device=pool_lock)
    run_at(max(access.program_at, timezone.now()))
    access.refresh_from_db()
    wired.fake.control(
        "/access_codes/add_error",
        access_code_id=access.provider_id,
        error_code="failed_to_set_on_device",
    )
    reservation.refresh_from_db()
    with time_machine.travel(reservation.prearrival_check_at, tick=False):
        prearrival_run_due()
    access.refresh_from_db()
    assert access.backup_code
    return reservation, access


def test_prearrival_failures_show_the_stay_and_the_backup_code(wired, staff_client, org_b, client):
    reservation, access = backup_code_scenario(wired)
    alert = DeviceAlert.objects.get(kind=DeviceAlert.Kind.PREARRIVAL_FAILED)
    page = staff_client.get(reverse("dashboard")).content.decode()
    pre = section(page, "prearrival")
    assert "Codes not confirmed before arrival (1)" in pre
    stay_url = reverse("admin:reservations_reservation_change", args=[reservation.pk])
    assert f'href="{stay_url}">Pre Arrival Guest</a>' in pre
    assert access.device.name in pre
    zone = wired.listing.property.zone
    assert reservation.check_in.astimezone(zone).strftime("%H:%M %Z") in pre
    assert "Backup code ready" in pre
    assert f'<span class="ks-backup-code">{access.backup_code}</span>' in pre
    assert pre.index("<details") < pre.index(access.backup_code)  # behind a click
    # Not listed twice: the lock alerts below leave it to this section.
    assert "Pre Arrival Guest" not in section(page, "alerts")

    # "Mark shared" is the reservation page's own action.
    share = reverse(
        "admin:reservations_reservation_share_backup", args=[reservation.pk, access.pk]
    )
    assert f'action="{share}"' in pre
    assert staff_client.post(share).status_code == 302
    access.refresh_from_db()
    assert access.backup_shared_at is not None
    pre = section(staff_client.get(reverse("dashboard")).content.decode(), "prearrival")
    assert "shared " in pre and f'action="{share}"' not in pre

    # Acknowledged: who, and back to this section.
    response = staff_client.post(reverse("alert_acknowledge", args=[alert.pk]))
    assert response["Location"].endswith("#prearrival")
    pre = section(staff_client.get(reverse("dashboard")).content.decode(), "prearrival")
    assert f"by {wired.listing.property.organization.memberships.get(role='staff').user}" in pre

    # Another organization sees neither the stay nor the code.
    client.force_login(org_b.manager)
    other = client.get(reverse("dashboard")).content.decode()
    assert "Pre Arrival Guest" not in other and access.backup_code not in other


def test_a_busy_day_shows_its_first_arrivals_with_the_count_and_see_all(
    manager_client, org_a, django_assert_max_num_queries
):
    from reservations.sections import SECTION_ROWS as DAY_ROWS

    zone = org_a.property.zone
    today = timezone.localdate(timezone=zone)
    base = datetime.datetime.combine(today, datetime.time(23, 0), tzinfo=zone)
    many = DAY_ROWS + 5
    for n in range(many):
        listing = ListingFactory(property=org_a.property)
        ReservationFactory(
            listing=listing,
            guest_name=f"Busy Guest {n:02d}",
            check_in=base + datetime.timedelta(seconds=n),
            check_out=base + datetime.timedelta(days=2),
        )
    with time_machine.travel(base - datetime.timedelta(hours=1), tick=False):
        page = manager_client.get(reverse("dashboard")).content.decode()
    arrivals = section(page, "arrivals")
    assert f"Today ({many})" in arrivals
    assert arrivals.count('class="ks-arrival"') == DAY_ROWS
    assert "Busy Guest 00" in arrivals and f"Busy Guest {many - 1}" not in arrivals
    assert f"See all {many} today" in arrivals
    assert "?arriving=today" in arrivals
