import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from tests.factories import ListingFactory, PropertyFactory

pytestmark = pytest.mark.django_db


def test_property_time_zone_must_be_an_iana_zone(manager_client, org_a):
    response = manager_client.post(
        reverse("admin:properties_property_add"),
        {
            "organization": org_a.organization.pk,
            "name": "Mars Base",
            "time_zone": "Mars/Olympus",
            "check_in_time": "15:00",
            "check_out_time": "11:00",
        },
    )
    assert response.status_code == 200
    assert "is not an IANA time zone" in str(response.context["adminform"].form.errors)


def test_property_defaults_to_three_pm_check_in_and_eleven_am_check_out(org_a):
    prop = PropertyFactory(organization=org_a.organization)
    assert (prop.check_in_time.hour, prop.check_out_time.hour) == (15, 11)


def test_listing_external_id_is_unique_within_an_organization(org_a, org_b):
    ListingFactory(property=org_a.property, external_id="PMS-1")
    ListingFactory(property=org_b.property, external_id="PMS-1")  # another organization
    ListingFactory(property=org_a.property, external_id="")  # empty ids do not clash
    ListingFactory(property=org_a.property, external_id="")
    other_property = PropertyFactory(organization=org_a.organization)
    with pytest.raises(IntegrityError), transaction.atomic():
        ListingFactory(property=other_property, external_id="PMS-1")


def test_duplicate_listing_external_id_gets_a_form_error(manager_client, org_a):
    response = manager_client.post(
        reverse("admin:properties_listing_add"),
        {
            "property": org_a.property.pk,
            "name": "Twin",
            "external_id": org_a.listing.external_id,
            "active": "on",
            "buffer_before_minutes": "0",
            "buffer_after_minutes": "0",
            "code_style": "random",
            "assignments-TOTAL_FORMS": "0",
            "assignments-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "Another listing of this organization has this external id." in str(
        response.context["adminform"].form.errors
    )


def test_listing_code_length_is_4_to_12(org_a):
    listing = ListingFactory.build(property=org_a.property, code_length=3)
    with pytest.raises(ValidationError):
        listing.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        ListingFactory(property=org_a.property, code_length=13)
