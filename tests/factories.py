"""The shared cast: build any object of the domain with sensible defaults."""

import datetime

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from locks.models import Device, LockAssignment, LockProviderConnection
from properties.models import Listing, Membership, Organization, Property
from reservations.models import Reservation


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"person{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    is_staff = True
    password = factory.django.Password("pw-for-tests")


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Hosting Co {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.MANAGER


class PropertyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Property

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Property {n}")
    address = "1 Harbour Street"
    time_zone = "Europe/Lisbon"


class ListingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Listing

    property = factory.SubFactory(PropertyFactory)
    name = factory.Sequence(lambda n: f"Listing {n}")
    external_id = factory.Sequence(lambda n: f"EXT-{n}")


class ConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LockProviderConnection

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Seam workspace {n}")


class DeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Device

    connection = factory.SubFactory(ConnectionFactory)
    provider_device_id = factory.Sequence(lambda n: f"device_{n}")
    name = factory.Sequence(lambda n: f"Door {n}")
    manufacturer = "August"
    model = "Wi-Fi Smart Lock"
    battery_level = 0.8
    supported_code_lengths = [4, 5, 6]


class LockAssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LockAssignment

    listing = factory.SubFactory(ListingFactory)
    device = factory.SubFactory(
        DeviceFactory,
        connection__organization=factory.SelfAttribute("...listing.organization"),
    )
    role = LockAssignment.Role.SECONDARY


class ReservationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reservation

    listing = factory.SubFactory(ListingFactory)
    guest_name = factory.Sequence(lambda n: f"Guest {n}")
    guest_email = factory.LazyAttribute(lambda r: f"{r.guest_name.replace(' ', '.')}@example.com")
    # The listing's own hours (15:00 in, 11:00 out, on its property's clock), as a real
    # stay: a stay made from the clock's hour would overlap the next one after 11:00.
    check_in = factory.LazyAttribute(
        lambda r: r.listing.local_check_in(
            timezone.localdate(timezone=r.listing.property.zone) + datetime.timedelta(days=2)
        )
    )
    check_out = factory.LazyAttribute(
        lambda r: r.listing.local_check_out(
            timezone.localdate(r.check_in, timezone=r.listing.property.zone)
            + datetime.timedelta(days=3)
        )
    )
    status = Reservation.Status.CONFIRMED
    source = "tests"
    external_id = factory.Sequence(lambda n: f"RES-{n}")
