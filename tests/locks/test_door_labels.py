"""Door labels and staff access: guests read "Front gate", never the provider's device
name; staff-only doors get no guest code; every surface that edits a lock assignment
takes both."""

import pytest
from django.urls import reverse

from guests.content import compose
from guests.models import MessageTemplate
from hooks import payloads
from locks.models import LockAssignment
from reservations.models import LockAccess
from tests.guests.test_guest_page import doors_on, open_page

pytestmark = pytest.mark.django_db


def label(wired, device, text):
    LockAssignment.objects.filter(listing=wired.listing, device=device).update(label=text)


def test_the_guest_page_the_email_and_the_webhook_name_doors_by_their_label(wired, client):
    label(wired, wired.gate, "Front gate")
    reservation = wired.book(days_ahead=1)

    doors = doors_on(open_page(client, reservation).content.decode())
    assert set(doors) == {"Front gate", "Side Door"}  # no label: the lock's own name

    body = compose(reservation, MessageTemplate.Kind.CODE).body
    assert "Front gate: " + reservation.code.value in body
    assert "Garden Gate" not in body

    loaded = payloads.load_reservation(reservation.pk)
    names = {door["name"] for door in payloads.doors_part(loaded, at=reservation.check_in)}
    assert names == {"Front gate", "Side Door"}
    gate_access = loaded.lock_accesses.get(device=wired.gate)
    assert payloads.lock_access_part(gate_access)["door"] == "Front gate"


def test_a_staff_only_door_gets_no_guest_code(wired):
    """A storage closet: crew access on, guest access off."""
    LockAssignment.objects.filter(listing=wired.listing, device=wired.back).update(
        staff_access=True, label="Storage closet"
    )
    reservation = wired.book(days_ahead=1)
    accesses = LockAccess.objects.filter(reservation=reservation, wanted=True)
    assert set(accesses.values_list("device__name", flat=True)) == {"Garden Gate", "Side Door"}


def test_the_listing_inline_saves_label_and_staff_access(org_a, manager_client):
    url = reverse("admin:properties_listing_change", args=[org_a.listing.pk])
    page = manager_client.get(url).content.decode()
    assert 'name="assignments-0-label"' in page and 'name="assignments-0-staff_access"' in page
    data = {
        "property": org_a.property.pk,
        "name": org_a.listing.name,
        "external_id": org_a.listing.external_id,
        "active": "on",
        "buffer_before_minutes": "0",
        "buffer_after_minutes": "0",
        "code_style": "random",
        "assignments-TOTAL_FORMS": "1",
        "assignments-INITIAL_FORMS": "1",
        "assignments-0-id": org_a.assignment.pk,
        "assignments-0-listing": org_a.listing.pk,
        "assignments-0-device": org_a.device.pk,
        "assignments-0-role": "primary",
        "assignments-0-label": "  Apartment door ",
        "assignments-0-guest_access": "on",
        "assignments-0-staff_access": "on",
    }
    response = manager_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assignment = LockAssignment.objects.get(pk=org_a.assignment.pk)
    assert (assignment.label, assignment.staff_access) == ("Apartment door", True)
