"""The reservation list's listing filter is in the order people number flats."""

import pytest
from django.urls import reverse

from tests.factories import ListingFactory

pytestmark = pytest.mark.django_db


def test_listings_in_the_filter_sort_flat_2_before_flat_10(manager_client, org_a):
    for n in (10, 2, 1, 21):
        ListingFactory(property=org_a.property, name=f"Flat {n}")
    page = manager_client.get(reverse("admin:reservations_reservation_changelist"))
    choices = [
        choice["display"]
        for spec in page.context["cl"].filter_specs
        if spec.title == "listing"
        for choice in spec.choices(page.context["cl"])
    ]
    names = [c for c in choices if str(c).startswith("Flat ")]
    assert names == ["Flat 1", "Flat 2", "Flat 10", "Flat 21"]
