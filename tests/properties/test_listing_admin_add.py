"""Adding a listing in the admin: every save button lands on the new listing's pages."""

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from properties.models import Listing

pytestmark = pytest.mark.django_db


def _add(client, org, button: str):
    return client.post(
        reverse("admin:properties_listing_add"),
        {
            "property": org.property.pk,
            "name": "Garden Studio",
            "external_id": "PMS-77",
            "active": "on",
            "buffer_before_minutes": "0",
            "buffer_after_minutes": "0",
            "code_style": "random",
            "assignments-TOTAL_FORMS": "0",
            "assignments-INITIAL_FORMS": "0",
            button: "1",
        },
    )


def test_save_and_continue_editing_opens_the_new_listing(manager_client, org_a):
    response = _add(manager_client, org_a, "_continue")
    listing = Listing.objects.get(name="Garden Studio")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:properties_listing_change", args=[listing.pk])
    page = manager_client.get(response["Location"])
    assert page.status_code == 200
    assert "was added successfully" in page.content.decode()
    # The admin's history names the listing that was added.
    assert LogEntry.objects.get(object_repr__contains="Garden Studio").object_id == str(listing.pk)


def test_save_and_add_another_says_which_listing_was_added(manager_client, org_a):
    response = _add(manager_client, org_a, "_addanother")
    assert response["Location"] == reverse("admin:properties_listing_add")
    page = manager_client.get(response["Location"]).content.decode()
    listing = Listing.objects.get(name="Garden Studio")
    assert reverse("admin:properties_listing_change", args=[listing.pk]) in page
