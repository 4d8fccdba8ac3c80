"""Staff are not told to do what only managers can: an account to reconnect shows them who
reconnects it (no Reconnect button that answers "forbidden"), and a stay whose listing has
no door for guest codes tells them a manager gives a lock guest access."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from locks.models import LockAssignment
from locks.services import devices_sync
from reservations.models import Reservation
from reservations.services import reservation_create

pytestmark = pytest.mark.django_db

SMART_DEVICES = "/admin/smart-devices/"


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _reconnect_box(page: str) -> str:
    return page.split('id="reconnect-accounts"', 1)[1].split("</ul>", 1)[0]


def test_staff_see_an_account_to_reconnect_without_a_button_they_cannot_use(wired, client, org_a):
    wired.fake.control(
        "/connected_accounts/errors",
        connected_account_id="john_connected_account_id",
        error_codes=["account_reauthorization_requested"],
    )
    devices_sync(connection=wired.connection)
    connect = reverse("smart_devices:connect", args=[wired.connection.pk])

    client.force_login(org_a.staff)
    assert client.get(connect).status_code in (403, 404)  # staff cannot reconnect
    for url in (SMART_DEVICES, reverse("dashboard")):
        box = _reconnect_box(client.get(url).content.decode())
        assert "August · john@example.com" in _text(box)
        assert connect not in box and "Reconnect</a>" not in box
        assert f"A manager of {org_a.organization} reconnects it" in _text(box)

    client.force_login(org_a.manager)
    box = _reconnect_box(client.get(reverse("dashboard")).content.decode())
    assert connect in box and "A manager of" not in box


def test_a_stay_without_a_guest_door_tells_staff_who_gives_one(client, org_a):
    LockAssignment.objects.filter(listing=org_a.listing).update(guest_access=False)
    Reservation.objects.filter(pk=org_a.reservation.pk).delete()
    listing = org_a.listing
    today = timezone.localdate(timezone=org_a.property.zone)
    reservation_create(
        listing=listing,
        guest_name="No Door Guest",
        check_in=listing.local_check_in(today + timezone.timedelta(days=3)),
        check_out=listing.local_check_out(today + timezone.timedelta(days=5)),
        status=Reservation.Status.CONFIRMED,
    )
    client.force_login(org_a.staff)
    section = _text(
        client.get(reverse("dashboard")).content.decode().split('id="no-door"', 1)[1]
    ).split("Sent, not yet confirmed", 1)[0]
    assert "No Door Guest" in section
    assert "Give a lock guest access" not in section
    assert "A manager gives one of the listing's locks guest access" in section

    client.force_login(org_a.manager)
    section = _text(client.get(reverse("dashboard")).content.decode().split('id="no-door"', 1)[1])
    assert "Give a lock guest access" in section
