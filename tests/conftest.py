import datetime
import os
from dataclasses import dataclass

import pytest

from locks.models import LockAssignment
from properties.models import Membership

from .factories import (
    DeviceFactory,
    ListingFactory,
    LockAssignmentFactory,
    MembershipFactory,
    OrganizationFactory,
    PropertyFactory,
    ReservationFactory,
)

pytest_plugins = ["tests.fixtures_seam", "tests.fixtures_lifecycle", "tests.fixtures_parallel"]

# Playwright's sync API runs an event loop in the test thread; the ORM beside it is safe
# here because each e2e test drives one browser at a time.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@dataclass
class Org:
    """One organization with a manager, a staff member and one of everything."""

    organization: object
    manager: object
    staff: object
    property: object
    listing: object
    device: object
    assignment: object
    reservation: object


def make_org(name: str) -> Org:
    organization = OrganizationFactory(name=name)
    manager = MembershipFactory(
        organization=organization, user__username=f"{name.lower()}-manager"
    ).user
    staff = MembershipFactory(
        organization=organization,
        user__username=f"{name.lower()}-staff",
        role=Membership.Role.STAFF,
    ).user
    prop = PropertyFactory(organization=organization, name=f"{name} House")
    listing = ListingFactory(property=prop, name=f"{name} Flat")
    device = DeviceFactory(connection__organization=organization, name=f"{name} Front Door")
    assignment = LockAssignmentFactory(
        listing=listing, device=device, role=LockAssignment.Role.PRIMARY
    )
    reservation = ReservationFactory(listing=listing, guest_name=f"{name} Guest")
    return Org(organization, manager, staff, prop, listing, device, assignment, reservation)


@pytest.fixture
def org_a(db) -> Org:
    return make_org("Alpha")


@pytest.fixture
def org_b(db) -> Org:
    return make_org("Bravo")


@pytest.fixture
def manager_client(client, org_a):
    client.force_login(org_a.manager)
    return client


@pytest.fixture
def staff_client(client, org_a):
    client.force_login(org_a.staff)
    return client


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # The system's Chromium (Debian package), never a browser downloaded by Playwright.
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture
def midday():
    """The test runs from 12:00 UTC today, its clock ticking: after the listings' check-out
    hour and before their check-in hour on their clocks (Lisbon's: UTC or UTC+1), for
    tests whose stays of today must not have begun yet, whatever hour the suite runs."""
    import time_machine

    today = datetime.datetime.now(datetime.UTC).date()
    with time_machine.travel(
        datetime.datetime.combine(today, datetime.time(12), tzinfo=datetime.UTC), tick=True
    ):
        yield
