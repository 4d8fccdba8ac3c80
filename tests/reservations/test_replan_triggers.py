"""Changes made anywhere to a listing's locks re-plan the codes of its stays."""

import pytest
from django.urls import reverse
from django.utils import timezone

from locks.models import LockAssignment
from locks.services import assignments_create, devices_sync
from reservations.models import LockAccess
from tests.factories import ListingFactory
from tests.fixtures_lifecycle import run_at

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


def test_switching_guest_access_in_the_listing_inline_re_plans(wired, manager_client):
    reservation = wired.book(days_ahead=0)
    run_at(timezone.now())
    rows = list(LockAssignment.objects.filter(listing=wired.listing).order_by("pk"))
    data = {
        "property": wired.listing.property.pk,
        "name": wired.listing.name,
        "external_id": wired.listing.external_id,
        "active": "on",
        "buffer_before_minutes": "0",
        "buffer_after_minutes": "0",
        "code_style": "random",
        "assignments-TOTAL_FORMS": str(len(rows)),
        "assignments-INITIAL_FORMS": str(len(rows)),
    }
    for i, row in enumerate(rows):
        data.update(
            {
                f"assignments-{i}-id": row.pk,
                f"assignments-{i}-listing": wired.listing.pk,
                f"assignments-{i}-device": row.device_id,
                f"assignments-{i}-role": row.role,
            }
        )
        if row.device_id != wired.side.pk:  # Side Door loses guest access
            data[f"assignments-{i}-guest_access"] = "on"
    response = manager_client.post(
        reverse("admin:properties_listing_change", args=[wired.listing.pk]), data
    )
    assert response.status_code == 302
    run_at(timezone.now())
    assert wired.codes_on(wired.side) == []
    assert [c.code for c in wired.codes_on(wired.back)] == [reservation.code.value]


def test_a_csv_import_that_changes_locks_re_plans(
    wired, manager_client, django_capture_on_commit_callbacks
):
    from tests.locks.test_listing_import_admin import import_ok

    reservation = wired.book(days_ahead=0)
    run_at(timezone.now())
    header = [
        "property",
        "name",
        "external_id",
        "primary_lock",
        "secondary_locks",
        "locks_without_guest_access",
    ]
    row = [
        wired.listing.property.name,
        wired.listing.name,
        wired.listing.external_id,
        "Garden Gate",
        "Side Door;Fake August Lock 2",
        "Side Door",
    ]
    data = ("\r\n".join([",".join(header), ",".join(row)]) + "\r\n").encode()
    # The stays re-plan once the import's transaction commits.
    with django_capture_on_commit_callbacks(execute=True):
        import_ok(manager_client, data)
    run_at(timezone.now())
    assert wired.codes_on(wired.side) == []
    assert [c.code for c in wired.codes_on(wired.back)] == [reservation.code.value]


def test_moving_an_assignment_to_another_listing_re_plans_the_old_one(wired, manager_client):
    reservation = wired.book(days_ahead=0)
    run_at(timezone.now())
    other = ListingFactory(property=wired.listing.property)
    side = LockAssignment.objects.get(listing=wired.listing, device=wired.side)
    response = manager_client.post(
        reverse("admin:locks_lockassignment_change", args=[side.pk]),
        {"listing": other.pk, "device": wired.side.pk, "role": "secondary", "guest_access": "on"},
    )
    assert response.status_code == 302
    run_at(timezone.now())
    assert reservation.code.value not in [c.code for c in wired.codes_on(wired.side)]
