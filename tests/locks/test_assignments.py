"""Which lock is where: one primary per listing, a device once per listing, shared gates."""

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from locks.models import LockAssignment
from tests.factories import DeviceFactory, ListingFactory, LockAssignmentFactory

pytestmark = pytest.mark.django_db


def test_second_primary_lock_is_refused_with_a_form_error(manager_client, org_a):
    second = DeviceFactory(connection=org_a.device.connection, name="Back Door")
    url = reverse("admin:properties_listing_change", args=[org_a.listing.pk])
    data = {
        "property": org_a.property.pk,
        "name": org_a.listing.name,
        "external_id": org_a.listing.external_id,
        "active": "on",
        "buffer_before_minutes": "0",
        "buffer_after_minutes": "0",
        "code_style": "random",
        "assignments-TOTAL_FORMS": "2",
        "assignments-INITIAL_FORMS": "1",
        "assignments-0-id": org_a.assignment.pk,
        "assignments-0-listing": org_a.listing.pk,
        "assignments-0-device": org_a.device.pk,
        "assignments-0-role": "primary",
        "assignments-0-guest_access": "on",
        "assignments-1-listing": org_a.listing.pk,
        "assignments-1-device": second.pk,
        "assignments-1-role": "primary",
        "assignments-1-guest_access": "on",
    }
    response = manager_client.post(url, data)
    assert response.status_code == 200
    assert "This listing already has a primary lock." in response.content.decode()
    assert org_a.listing.assignments.count() == 1


def test_second_primary_lock_is_refused_on_the_assignment_page(manager_client, org_a):
    second = DeviceFactory(connection=org_a.device.connection, name="Back Door")
    response = manager_client.post(
        reverse("admin:locks_lockassignment_add"),
        {"listing": org_a.listing.pk, "device": second.pk, "role": "primary"},
    )
    assert response.status_code == 200
    assert "already has a primary lock." in str(response.context["adminform"].form.errors)


def test_second_primary_lock_is_refused_by_the_database(org_a):
    second = DeviceFactory(connection=org_a.device.connection)
    with pytest.raises(IntegrityError), transaction.atomic():
        LockAssignment.objects.create(
            listing=org_a.listing, device=second, role=LockAssignment.Role.PRIMARY
        )


def test_device_is_assigned_at_most_once_per_listing(org_a):
    with pytest.raises(IntegrityError), transaction.atomic():
        LockAssignment.objects.create(
            listing=org_a.listing, device=org_a.device, role=LockAssignment.Role.SECONDARY
        )


def test_a_shared_gate_serves_several_listings_as_primary_of_each(org_a):
    gate = DeviceFactory(connection=org_a.device.connection, name="Lobby Gate")
    listings = [ListingFactory(property=org_a.property) for _ in range(3)]
    for listing in listings:
        LockAssignmentFactory(listing=listing, device=gate, role=LockAssignment.Role.PRIMARY)
    assert gate.assignments.count() == 3


def test_listing_page_shows_its_locks_to_the_manager(manager_client, org_a):
    page = manager_client.get(reverse("admin:properties_listing_changelist")).content.decode()
    assert "Alpha Front Door" in page
    assert "battery 80%" in page


def test_manager_swaps_the_primary_role_between_two_locks_in_one_save(manager_client, org_a):
    back = LockAssignmentFactory(
        listing=org_a.listing, device__connection=org_a.device.connection, device__name="Back"
    )
    url = reverse("admin:properties_listing_change", args=[org_a.listing.pk])
    response = manager_client.post(
        url,
        {
            "property": org_a.property.pk,
            "name": org_a.listing.name,
            "external_id": org_a.listing.external_id,
            "active": "on",
            "buffer_before_minutes": "0",
            "buffer_after_minutes": "0",
            "code_style": "random",
            "assignments-TOTAL_FORMS": "2",
            "assignments-INITIAL_FORMS": "2",
            # The new primary comes first in the form: its row is saved after the demotion.
            "assignments-0-id": back.pk,
            "assignments-0-listing": org_a.listing.pk,
            "assignments-0-device": back.device.pk,
            "assignments-0-role": "primary",
            "assignments-0-guest_access": "on",
            "assignments-1-id": org_a.assignment.pk,
            "assignments-1-listing": org_a.listing.pk,
            "assignments-1-device": org_a.device.pk,
            "assignments-1-role": "secondary",
            "assignments-1-guest_access": "on",
        },
    )
    assert response.status_code == 302
    back.refresh_from_db()
    org_a.assignment.refresh_from_db()
    assert (back.role, org_a.assignment.role) == ("primary", "secondary")


def test_a_device_removed_at_the_provider_cannot_be_assigned_on_any_surface(manager_client, org_a):
    """The assignment page used to skip this rule that the Smart Devices page and the API
    applied: every surface now asks locks.services."""
    from django.core.exceptions import ValidationError
    from django.utils import timezone

    from locks import services

    gone = DeviceFactory(
        connection=org_a.device.connection, name="Old Door", removed_at=timezone.now()
    )
    response = manager_client.post(
        reverse("admin:locks_lockassignment_add"),
        {"listing": org_a.listing.pk, "device": gone.pk, "role": "secondary"},
    )
    assert response.status_code == 200
    assert "removed at the provider" in str(response.context["adminform"].form.errors)
    with pytest.raises(ValidationError, match="removed at the provider"):
        services.assignment_create(
            listing=org_a.listing, device=gone, role="secondary", guest_access=True
        )
    assert not LockAssignment.objects.filter(device=gone).exists()
