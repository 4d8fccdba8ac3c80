"""Changes made anywhere to a listing's locks re-plan the codes of its stays."""

import pytest
from django.urls import reverse
from django.utils import timezone

from locks.models import LockAssignment
from locks.services import assignments_create, devices_sync
from reservations.models import LockAccess

from .conftest import run_at

pytestmark = pytest.mark.django_db


def test_a_lock_assigned_on_the_smart_devices_page_gets_the_current_guests_code(wired):
    reservation = wired.book(days_ahead=0)
    run_at(timezone.now())
    pool_house = wired.connection.devices.get(name="Bathroom Door")
    assignments_create(listing=wired.listing, devices=[pool_house], guest_access=True)
    run_at(timezone.now())
    assert [c.code for c in wired.codes_on(pool_house)] == [reservation.code.value]


def test_deleting_an_assignment_in_the_admin_revokes_its_code(wired, manager_client):
    reservation = wired.book(days_ahead=0)
    run_at(timezone.now())
    side = LockAssignment.objects.get(listing=wired.listing, device=wired.side)
    response = manager_client.post(
        reverse("admin:locks_lockassignment_delete", args=[side.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    run_at(timezone.now())
    assert wired.codes_on(wired.side) == []
    assert LockAccess.objects.get(reservation=reservation, device=wired.side).state == (
        LockAccess.State.REVOKED
    )


def test_switching_guest_access_in_the_admin_re_plans(wired, manager_client):
    reservation = wired.book(days_ahead=0)
    run_at(timezone.now())
    back = LockAssignment.objects.get(listing=wired.listing, device=wired.back)
    response = manager_client.post(
        reverse("admin:locks_lockassignment_change", args=[back.pk]),
        {
            "listing": wired.listing.pk,
            "device": wired.back.pk,
            "role": "secondary",
            "guest_access": "on",
        },
    )
    assert response.status_code == 302
    run_at(timezone.now())
    assert [c.code for c in wired.codes_on(wired.back)] == [reservation.code.value]


def test_a_lock_removed_at_the_provider_leaves_the_plan_and_is_flagged(wired):
    reservation = wired.book()
    wired.fake.control("/devices/remove", device_id=wired.side.provider_device_id)
    devices_sync(connection=wired.connection)
    side = LockAccess.objects.get(reservation=reservation, device=wired.side)
    assert not side.wanted
    gate = LockAccess.objects.get(reservation=reservation, device=wired.gate)
    assert gate.wanted
