"""Every list reads in a fixed number of queries, from 5 rows to 500 on one page."""

import datetime
import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from locks.models import Device, LockAssignment, LockProviderConnection
from properties.models import Listing, Property
from reservations.models import (
    AccessOverride,
    DeviceAlert,
    LockAccess,
    LockEvent,
    Reservation,
    ReservationCode,
)

pytestmark = pytest.mark.django_db

_serial = itertools.count()


def numbers(n: int) -> list[int]:
    """n numbers never used before in this run: names and provider ids stay unique."""
    return [next(_serial) for _ in range(n)]


def _properties(org, n):
    Property.objects.bulk_create(
        Property(organization=org.organization, name=f"Property {i}", time_zone="UTC")
        for i in numbers(n)
    )


def _listings(org, n):
    Listing.objects.bulk_create(
        Listing(organization=org.organization, property=org.property, name=f"Listing {i}")
        for i in numbers(n)
    )


def _devices(org, n) -> list[Device]:
    return Device.objects.bulk_create(
        Device(
            organization=org.organization,
            connection=org.device.connection,
            provider_device_id=f"bulk-{i}",
            name=f"Door {i}",
            kind=Device.Kind.ACS_ENTRANCE if i % 2 else Device.Kind.LOCK,
        )
        for i in numbers(n)
    )


def _assignments(org, n):
    LockAssignment.objects.bulk_create(
        LockAssignment(listing=org.listing, device=device) for device in _devices(org, n)
    )


def _connections(org, n):
    LockProviderConnection.objects.bulk_create(
        LockProviderConnection(organization=org.organization, name=f"Workspace {i}")
        for i in numbers(n)
    )


def _reservations(org, n) -> list[Reservation]:
    """Confirmed stays, each with its code and its part on two locks."""
    now = timezone.now()
    second = _devices(org, 1)[0]
    reservations = Reservation.objects.bulk_create(
        Reservation(
            organization=org.organization,
            listing=org.listing,
            guest_name=f"Guest {i}",
            check_in=now + datetime.timedelta(days=i + 1),
            check_out=now + datetime.timedelta(days=i + 2),
            status=Reservation.Status.CONFIRMED,
        )
        for i in numbers(n)
    )
    codes, accesses = [], []
    for reservation in reservations:
        code = ReservationCode(reservation=reservation, generated_at=now)
        code.value = "482957"
        codes.append(code)
        for device in (org.device, second):
            accesses.append(
                LockAccess(
                    organization=org.organization,
                    reservation=reservation,
                    device=device,
                    starts_at=reservation.check_in,
                    ends_at=reservation.check_out,
                    program_at=reservation.check_in,
                )
            )
    ReservationCode.objects.bulk_create(codes)
    LockAccess.objects.bulk_create(accesses)
    return reservations


def _overrides(org, n):
    overrides = []
    for reservation in _reservations(org, n):
        override = AccessOverride(reservation=reservation, assignment=org.assignment)
        override.code = "593816"
        overrides.append(override)
    AccessOverride.objects.bulk_create(overrides)


def _events(org, n):
    now = timezone.now()
    LockEvent.objects.bulk_create(
        LockEvent(
            organization=org.organization,
            connection=org.device.connection,
            device=org.device,
            provider_event_id=f"bulk-{i}",
            event_type="lock.unlocked",
            kind=LockEvent.Kind.UNLOCKED,
            occurred_at=now - datetime.timedelta(minutes=i),
            reservation=org.reservation,
            person_name="Alpha Guest",
        )
        for i in numbers(n)
    )


def _alerts(org, n):
    """Unlocks while vacant (one alert per event), each acknowledged by someone."""
    now = timezone.now()
    DeviceAlert.objects.bulk_create(
        DeviceAlert(
            organization=org.organization,
            device=org.device,
            kind=DeviceAlert.Kind.VACANT_UNLOCK,
            access_code_id=f"evt-{i}",
            reservation=org.reservation,
            message="Unlocked with a code Keystay does not know, while no stay was under way.",
            opened_at=now - datetime.timedelta(minutes=i),
            acknowledged_at=now,
            acknowledged_by=org.staff,
            acknowledged_by_name="Staff",
        )
        for i in numbers(n)
    )


GROW = {
    "properties": _properties,
    "listings": _listings,
    "devices": _devices,
    "assignments": _assignments,
    "connections": _connections,
    "reservations": _reservations,
    "overrides": _overrides,
    "events": _events,
    "alerts": _alerts,
}


def queries_for_a_page(client, collection: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/api/v1/{collection}/", {"page_size": 500})
    assert response.status_code == 200
    return len(queries), len(response.json()["results"])


@pytest.mark.parametrize("collection", list(GROW))
def test_a_list_reads_in_the_same_number_of_queries_for_5_and_500_rows(
    manager_api, org_a, org_b, collection
):
    grow = GROW[collection]
    grow(org_a, 5)
    grow(org_b, 5)  # rows the caller must not see
    # A key's first request also records its last use (then at most once a minute).
    manager_api.get("/api/v1/")
    few, shown_few = queries_for_a_page(manager_api, collection)
    grow(org_a, 495)
    many, shown_many = queries_for_a_page(manager_api, collection)
    assert shown_few >= 5 and shown_many >= 500 - 1
    assert many == few, (
        f"{collection}: {few} queries for {shown_few} rows, {many} for {shown_many}"
    )
    print(f"{collection}: {few} queries for {shown_few} rows, {many} for {shown_many}")


def test_the_alerts_list_stays_within_a_fixed_number_of_queries(
    manager_api, org_a, org_b, django_assert_max_num_queries
):
    _alerts(org_a, 5)
    _alerts(org_b, 5)
    manager_api.get("/api/v1/")  # the key's last use is recorded once
    with django_assert_max_num_queries(4) as few:
        assert len(manager_api.get("/api/v1/alerts/").json()["results"]) == 5
    _alerts(org_a, 300)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = manager_api.get("/api/v1/alerts/", {"page_size": 500, "state": "all"})
    assert len(response.json()["results"]) == 305
