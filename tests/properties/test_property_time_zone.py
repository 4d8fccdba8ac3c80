"""A property's time zone is picked from the IANA zones (typed with suggestions), and
anything else is refused on the field."""

import pytest
from django.urls import reverse

from properties.models import Property

pytestmark = pytest.mark.django_db


def test_the_time_zone_field_offers_every_zone_to_search(manager_client, org_a):
    page = manager_client.get(reverse("admin:properties_property_add")).content.decode()
    assert 'list="id_time_zone_choices"' in page
    assert '<datalist id="id_time_zone_choices">' in page
    for zone in ("Europe/Lisbon", "America/New_York", "Asia/Kolkata"):
        assert f'<option value="{zone}">' in page


def test_a_zone_that_is_not_one_is_refused_on_the_field(manager_client, org_a):
    data = {
        "organization": org_a.organization.pk,
        "name": "Seaside",
        "address": "",
        "time_zone": "Lisbon",
        "check_in_time": "15:00",
        "check_out_time": "11:00",
    }
    response = manager_client.post(reverse("admin:properties_property_add"), data)
    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["time_zone"]
    assert "is not an IANA time zone" in error
    response = manager_client.post(
        reverse("admin:properties_property_add"), {**data, "time_zone": "Europe/Lisbon"}
    )
    assert response.status_code == 302
    assert Property.objects.get(name="Seaside").time_zone == "Europe/Lisbon"
