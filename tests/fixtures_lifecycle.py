"""Fixture `wired`: a listing wired to Seam's fake server (two guest-access locks, one
without), `crew` (the same with turnovers and a cleaner), and `run_at` to carry out due
work at an instant. Loaded by tests/conftest.py."""

import datetime
from dataclasses import dataclass

import pytest
import time_machine
from django.utils import timezone

from locks.gateway import SeamGateway
from locks.models import LockAssignment
from locks.services import connection_create, devices_sync
from properties.models import CrewMember
from reservations import readback, services
from reservations.models import Reservation


@dataclass
class Wired:
    listing: object
    connection: object
    gate: object  # Garden Gate: primary, guest access, lengths 4-6
    side: object  # Side Door: secondary, guest access, 6 digits, no zeros
    back: object  # Fake August Lock 2: secondary, no guest access
    fake: object
    seam: object

    def codes_on(self, device) -> list:
        """What the fake holds on a device (its list ignores the device filter)."""
        return [
            c
            for c in self.seam.access_codes.list(device_id=device.provider_device_id)
            if c.device_id == device.provider_device_id
        ]

    def seam_gateway(self):
        return SeamGateway.for_connection(self.connection)

    def lock_reports_set(self, *devices, at=None) -> None:
        """The locks report every code they hold set (the fake never does by itself), and
        Keystay reads them back."""
        for device in devices or (self.gate, self.side):
            for code in self.codes_on(device):
                self.fake.control(
                    "/access_codes/set_state", access_code_id=code.access_code_id, status="set"
                )
        with time_machine.travel(at or timezone.now(), tick=False):
            for device in devices or (self.gate, self.side):
                readback.lock_reconcile_by_id(device.pk)

    def book(self, *, days_ahead=3, nights=3, status=Reservation.Status.CONFIRMED, **fields):
        today = timezone.localdate(timezone=self.listing.property.zone)
        check_in = self.listing.local_check_in(today + datetime.timedelta(days=days_ahead))
        check_out = self.listing.local_check_out(
            today + datetime.timedelta(days=days_ahead + nights)
        )
        fields.setdefault("guest_name", "Maria Silva")
        fields.setdefault("guest_phone", "+351 912 345 678")
        return services.reservation_create(
            listing=self.listing,
            check_in=check_in,
            check_out=check_out,
            status=status,
            **fields,
        )


@pytest.fixture
def wired(org_a, fake_seam, seam_client):
    connection = connection_create(
        organization=org_a.organization,
        name="Seam",
        api_key=fake_seam.api_key,
        endpoint=fake_seam.url,
    )
    devices_sync(connection=connection)
    devices = {d.name: d for d in connection.devices.all()}
    listing = org_a.listing
    listing.assignments.all().delete()  # the factory's lock is not at the fake
    # The factory's stay would overlap every stay booked here (a double booking, within
    # which no override may reach): it moves two months out.
    stay = org_a.reservation
    stay.check_in += datetime.timedelta(days=60)
    stay.check_out += datetime.timedelta(days=60)
    Reservation.objects.filter(pk=stay.pk).update(check_in=stay.check_in, check_out=stay.check_out)
    LockAssignment.objects.create(
        listing=listing, device=devices["Garden Gate"], role="primary", guest_access=True
    )
    LockAssignment.objects.create(listing=listing, device=devices["Side Door"], guest_access=True)
    LockAssignment.objects.create(
        listing=listing, device=devices["Fake August Lock 2"], guest_access=False
    )
    return Wired(
        listing=listing,
        connection=connection,
        gate=devices["Garden Gate"],
        side=devices["Side Door"],
        back=devices["Fake August Lock 2"],
        fake=fake_seam,
        seam=seam_client,
    )


@pytest.fixture
def crew(wired):
    """Garden Gate (labelled "Front gate"): guests and crew; Side Door: guests only; the
    back door (Fake August Lock 2): the crew's storeroom, no guest access. Rosa cleans by
    default."""
    listing = wired.listing
    rosa = CrewMember.objects.create(
        organization=listing.organization, name="Rosa", email="rosa@example.com"
    )
    LockAssignment.objects.filter(listing=listing, device=wired.gate).update(
        staff_access=True, label="Front gate"
    )
    LockAssignment.objects.filter(listing=listing, device=wired.back).update(staff_access=True)
    listing.turnovers_enabled = True
    listing.default_crew_member = rosa
    listing.save()
    wired.rosa = rosa
    return wired


def same_day_pair(wired):
    """Maria leaves at 11:00 on day 5; Jon arrives at 15:00 the same day."""
    first = wired.book(days_ahead=3, nights=2)
    second = wired.book(days_ahead=5, nights=2, guest_name="Jon Park", guest_phone="")
    return first, second


def run_at(instant):
    """Move the clock to `instant` and carry out what is due then."""
    with time_machine.travel(instant, tick=False):
        return services.process_due()
