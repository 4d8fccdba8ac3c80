"""A manager of one organization gets nothing of another organization from the admin."""

import pytest
from django.urls import reverse

from locks.models import LockAssignment
from tests.factories import ReservationFactory

pytestmark = pytest.mark.django_db

# (admin URL name prefix, attribute of the Org cast holding such an object)
SCOPED_ADMINS = [
    ("properties_organization", "organization"),
    ("properties_property", "property"),
    ("properties_listing", "listing"),
    ("locks_lockproviderconnection", None),
    ("locks_device", "device"),
    ("locks_lockassignment", "assignment"),
    ("reservations_reservation", "reservation"),
]


@pytest.mark.parametrize(("admin_name", "_"), SCOPED_ADMINS)
def test_changelist_shows_only_own_organization(manager_client, org_a, org_b, admin_name, _):
    response = manager_client.get(reverse(f"admin:{admin_name}_changelist"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Bravo" not in page
    # The filter sidebar and search are scoped too: nothing named after Bravo anywhere.
    response = manager_client.get(reverse(f"admin:{admin_name}_changelist") + "?q=Bravo")
    assert response.context["cl"].result_count == 0


def test_changelists_list_own_rows(manager_client, org_a, org_b):
    response = manager_client.get(reverse("admin:reservations_reservation_changelist"))
    assert org_a.reservation.guest_name in response.content.decode()
    response = manager_client.get(reverse("admin:properties_listing_changelist"))
    assert "Alpha Flat" in response.content.decode()
    assert "Alpha Front Door" in response.content.decode()  # the primary lock column


@pytest.mark.parametrize(("admin_name", "attr"), [a for a in SCOPED_ADMINS if a[1]])
@pytest.mark.parametrize("view", ["change", "delete", "history"])
def test_direct_url_to_other_organization_is_404(
    manager_client, org_a, org_b, admin_name, attr, view
):
    other = getattr(org_b, attr)
    response = manager_client.get(reverse(f"admin:{admin_name}_{view}", args=[other.pk]))
    assert response.status_code == 404
    own = getattr(org_a, attr)
    response = manager_client.get(reverse(f"admin:{admin_name}_{view}", args=[own.pk]))
    assert response.status_code == 200


def test_other_organization_cannot_be_deleted_by_crafted_post(manager_client, org_a, org_b):
    url = reverse("admin:reservations_reservation_delete", args=[org_b.reservation.pk])
    response = manager_client.post(url, {"post": "yes"})
    assert response.status_code == 404
    org_b.reservation.refresh_from_db()


@pytest.mark.parametrize(
    ("model_admin", "field", "term"),
    [
        ("properties.listing", "property", "House"),
        ("locks.lockassignment", "device", "Door"),
        ("locks.lockassignment", "listing", "Flat"),
        ("reservations.reservation", "listing", "Flat"),
    ],
)
def test_autocomplete_offers_only_own_organization(
    manager_client, org_a, org_b, model_admin, field, term
):
    app_label, model_name = model_admin.split(".")
    response = manager_client.get(
        reverse("admin:autocomplete"),
        {"app_label": app_label, "model_name": model_name, "field_name": field, "term": term},
    )
    assert response.status_code == 200
    names = [row["text"] for row in response.json()["results"]]
    assert names and all("Alpha" in name for name in names), names


def test_filters_offer_only_own_organization(manager_client, org_a, org_b):
    # A filter shows once it has two choices: give Alpha a second property and listing.
    ReservationFactory(
        listing__property__organization=org_a.organization, listing__property__name="Alpha Two"
    )
    ReservationFactory(
        listing__property__organization=org_b.organization, listing__property__name="Bravo Two"
    )
    response = manager_client.get(reverse("admin:reservations_reservation_changelist"))
    filters = response.context["cl"].filter_specs
    changelist = response.context["cl"]
    offered = [str(choice["display"]) for spec in filters for choice in spec.choices(changelist)]
    assert {"Alpha House", "Alpha Two", "Alpha Flat"} <= set(offered)
    assert not [label for label in offered if "Bravo" in label]


def test_crafted_post_cannot_attach_listing_to_other_organizations_property(
    manager_client, org_a, org_b
):
    response = manager_client.post(
        reverse("admin:properties_listing_add"),
        {
            "property": org_b.property.pk,
            "name": "Sneaky",
            "external_id": "SNEAK",
            "active": "on",
            "buffer_before_minutes": "0",
            "buffer_after_minutes": "0",
            "code_style": "random",
            "assignments-TOTAL_FORMS": "0",
            "assignments-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "Select a valid choice" in str(response.context["adminform"].form.errors["property"])
    assert not org_b.property.listings.filter(name="Sneaky").exists()


def test_crafted_post_cannot_assign_other_organizations_device(manager_client, org_a, org_b):
    response = manager_client.post(
        reverse("admin:locks_lockassignment_add"),
        {"listing": org_a.listing.pk, "device": org_b.device.pk, "role": "secondary"},
    )
    assert response.status_code == 200
    assert "device" in response.context["adminform"].form.errors
    assert not LockAssignment.objects.filter(device=org_b.device, listing=org_a.listing).exists()


def test_crafted_post_cannot_book_other_organizations_listing(manager_client, org_a, org_b):
    response = manager_client.post(
        reverse("admin:reservations_reservation_add"),
        {
            "listing": org_b.listing.pk,
            "guest_name": "Intruder",
            "check_in_0": "2026-12-01",
            "check_in_1": "15:00",
            "check_out_0": "2026-12-03",
            "check_out_1": "11:00",
            "status": "pending",
        },
    )
    assert response.status_code == 200
    assert "listing" in response.context["adminform"].form.errors
    assert not org_b.listing.reservations.filter(guest_name="Intruder").exists()


def test_superuser_sees_every_organization(admin_client, org_a, org_b):
    page = admin_client.get(reverse("admin:properties_listing_changelist")).content.decode()
    assert "Alpha Flat" in page and "Bravo Flat" in page


def test_person_without_membership_sees_no_keystay_models(client, db, org_a):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="outsider"))
    assert client.get(reverse("admin:properties_listing_changelist")).status_code == 403
    index = client.get(reverse("admin:index")).content.decode()
    assert "Listings" not in index
