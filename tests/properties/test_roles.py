"""Staff view organization settings and lock assignments; managers change them."""

import pytest
from django.urls import reverse

from locks.models import LockAssignment

pytestmark = pytest.mark.django_db


def listing_post(org, **changes):
    data = {
        "property": org.property.pk,
        "name": org.listing.name,
        "external_id": org.listing.external_id,
        "active": "on",
        "buffer_before_minutes": "0",
        "buffer_after_minutes": "0",
        "code_style": "random",
        "assignments-TOTAL_FORMS": "1",
        "assignments-INITIAL_FORMS": "1",
        "assignments-0-id": org.assignment.pk,
        "assignments-0-listing": org.listing.pk,
        "assignments-0-device": org.device.pk,
        "assignments-0-role": "primary",
        "assignments-0-guest_access": "on",
    }
    data.update(changes)
    return data


def test_staff_sees_listing_read_only_and_cannot_post_changes(staff_client, org_a):
    url = reverse("admin:properties_listing_change", args=[org_a.listing.pk])
    page = staff_client.get(url)
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    response = staff_client.post(url, listing_post(org_a, name="Renamed by staff"))
    assert response.status_code == 403
    org_a.listing.refresh_from_db()
    assert org_a.listing.name == "Alpha Flat"


def test_staff_cannot_change_lock_assignments(staff_client, org_a):
    url = reverse("admin:locks_lockassignment_change", args=[org_a.assignment.pk])
    assert staff_client.get(url).status_code == 200
    response = staff_client.post(
        url, {"listing": org_a.listing.pk, "device": org_a.device.pk, "role": "secondary"}
    )
    assert response.status_code == 403
    org_a.assignment.refresh_from_db()
    assert org_a.assignment.role == LockAssignment.Role.PRIMARY
    assert staff_client.get(reverse("admin:locks_lockassignment_add")).status_code == 403


def test_staff_cannot_change_organization_or_add_members(staff_client, org_a):
    url = reverse("admin:properties_organization_change", args=[org_a.organization.pk])
    assert staff_client.post(url, {"name": "Taken over"}).status_code == 403
    assert staff_client.get(reverse("admin:properties_membership_add")).status_code == 403


def test_staff_can_change_a_reservation(staff_client, org_a):
    reservation = org_a.reservation
    url = reverse("admin:reservations_reservation_change", args=[reservation.pk])
    response = staff_client.post(
        url,
        {
            "listing": org_a.listing.pk,
            "guest_name": "Renamed Guest",
            "check_in_0": "2026-12-01",
            "check_in_1": "15:00",
            "check_out_0": "2026-12-04",
            "check_out_1": "11:00",
            "status": "confirmed",
            "lock_accesses-TOTAL_FORMS": "0",
            "lock_accesses-INITIAL_FORMS": "0",
            "overrides-TOTAL_FORMS": "0",
            "overrides-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    reservation.refresh_from_db()
    assert reservation.guest_name == "Renamed Guest"
    # Staff may not delete: that stays with managers.
    delete_url = reverse("admin:reservations_reservation_delete", args=[reservation.pk])
    assert staff_client.post(delete_url, {"post": "yes"}).status_code == 403


def test_manager_changes_listing_and_its_lock_assignments(manager_client, org_a):
    url = reverse("admin:properties_listing_change", args=[org_a.listing.pk])
    response = manager_client.post(
        url, listing_post(org_a, name="Sea View Flat", **{"assignments-0-role": "secondary"})
    )
    assert response.status_code == 302
    org_a.listing.refresh_from_db()
    org_a.assignment.refresh_from_db()
    assert org_a.listing.name == "Sea View Flat"
    assert org_a.assignment.role == LockAssignment.Role.SECONDARY


def test_manager_in_one_org_and_staff_in_another_gets_each_role(client, org_a, org_b):
    from properties.models import Membership

    Membership.objects.create(
        organization=org_b.organization, user=org_a.manager, role=Membership.Role.STAFF
    )
    client.force_login(org_a.manager)
    own = reverse("admin:properties_listing_change", args=[org_a.listing.pk])
    other = reverse("admin:properties_listing_change", args=[org_b.listing.pk])
    assert client.get(own).context["has_change_permission"] is True
    assert client.get(other).context["has_change_permission"] is False
    response = client.post(other, listing_post(org_b, name="Changed as staff"))
    assert response.status_code == 403


@pytest.mark.parametrize("organization", ["org_a", "org_b"])
def test_manager_cannot_add_a_member_by_username(manager_client, org_a, org_b, organization):
    """People join by accepting an invitation: a crafted POST to the old form is refused."""
    target = {"org_a": org_a, "org_b": org_b}[organization].organization
    add_url = reverse("admin:properties_membership_add")
    assert manager_client.get(add_url).status_code == 403
    response = manager_client.post(
        add_url,
        {
            "organization": target.pk,
            "user": org_b.staff.pk,
            "username": org_b.staff.username,
            "password": "a-long-enough-passphrase",
            "role": "manager",
        },
    )
    assert response.status_code == 403
    assert not target.memberships.filter(user=org_b.staff, role="manager").exists()
    page = manager_client.get(reverse("admin:properties_membership_changelist"))
    assert page.context["has_add_permission"] is False


def test_manager_opens_a_membership_change_page(manager_client, org_a):
    membership = org_a.organization.memberships.get(user=org_a.staff)
    url = reverse("admin:properties_membership_change", args=[membership.pk])
    response = manager_client.get(url)
    assert response.status_code == 200
    assert "email" not in response.context["adminform"].form.fields
