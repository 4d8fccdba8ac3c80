"""A manager switches turnovers on in the listing's admin page, and they are kept (the
page once said "changed successfully" and dropped every turnover setting)."""

import pytest
from django.urls import reverse

from properties.models import CrewMember, Listing

pytestmark = pytest.mark.django_db


def test_the_listing_page_saves_the_turnover_settings(org_a, manager_client):
    rosa = CrewMember.objects.create(organization=org_a.organization, name="Rosa")
    url = reverse("admin:properties_listing_change", args=[org_a.listing.pk])
    data = {
        "property": org_a.property.pk,
        "name": org_a.listing.name,
        "external_id": org_a.listing.external_id,
        "active": "on",
        "buffer_before_minutes": "0",
        "buffer_after_minutes": "0",
        "code_style": "random",
        "turnovers_enabled": "on",
        "default_crew_member": rosa.pk,
        "turnover_minutes": "180",
        "turnover_buffer_minutes": "15",
        "early_check_in_max_minutes": "120",
        "assignments-TOTAL_FORMS": "1",
        "assignments-INITIAL_FORMS": "1",
        "assignments-0-id": org_a.assignment.pk,
        "assignments-0-listing": org_a.listing.pk,
        "assignments-0-device": org_a.device.pk,
        "assignments-0-role": "primary",
        "assignments-0-guest_access": "on",
        "assignments-0-staff_access": "on",
    }
    response = manager_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    listing = Listing.objects.get(pk=org_a.listing.pk)
    assert listing.turnovers_enabled and listing.default_crew_member == rosa
    assert (
        listing.turnover_minutes,
        listing.turnover_buffer_minutes,
        listing.early_check_in_max_minutes,
    ) == (180, 15, 120)
    # The listing's coming stay now has its turnover, assigned to Rosa.
    assert org_a.reservation.turnover.assignee == rosa
