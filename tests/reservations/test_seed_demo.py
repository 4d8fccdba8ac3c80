import pytest
from django.core.management import CommandError, call_command
from django.test import RequestFactory, override_settings

from locks.models import Device
from properties.models import Listing, Organization
from reservations.models import Reservation

pytestmark = pytest.mark.django_db


def test_seed_demo_refuses_outside_demo_mode():
    with pytest.raises(CommandError, match="demo mode"):
        call_command("seed_demo")
    assert not Organization.objects.exists()


@override_settings(DEMO_MODE=True)
def test_seed_demo_seeds_an_empty_database_once(client):
    call_command("seed_demo")
    organization = Organization.objects.get()
    assert organization.properties.count() == 1
    assert organization.listings.count() == 2
    assert Reservation.objects.filter(organization=organization).count() >= 3
    # The sign-in throttle (django-axes) needs the request that signs in.
    request = RequestFactory().post("/admin/login/")
    assert client.login(request=request, username="demo", password="keystay-demo")
    call_command("seed_demo")  # a second start changes nothing
    assert Organization.objects.count() == 1


def listing_entrance() -> Device:
    return Device.objects.select_related("connection").get(name="Building Front Entrance")


def test_seed_demo_connects_the_fake_seam_server_and_assigns_its_doors(fake_seam):
    fake_seam.reset()
    with override_settings(
        DEMO_MODE=True,
        SEAM_API_KEY=fake_seam.api_key,
        SEAM_ENDPOINT=fake_seam.url,
        SEAM_FAKE_ENDPOINT=fake_seam.url,  # as `make run` exports it
    ):
        call_command("seed_demo")
        entrance = listing_entrance()
        assert entrance.codes_unsupported.startswith(
            "This provider's demo server cannot take entrance codes"
        )
    listing = Listing.objects.get(name="Apartment 1A")
    roles = {a.device.name: a.role for a in listing.assignments.select_related("device")}
    assert roles == {
        "Garden Gate": "primary",
        "Side Door": "secondary",
        "Building Front Entrance": "secondary",
    }
    # Confirmed stays got their codes planned on the guest-access doors that take codes:
    # the entrance has guest access, but the fake cannot take entrance codes.
    assert listing.assignments.get(device__name="Building Front Entrance").guest_access
    ben = Reservation.objects.get(guest_name="Ben Carter")
    assert {a.device.name for a in ben.lock_accesses.all()} == {"Garden Gate", "Side Door"}
    assert listing.organization.devices.count() == 8
