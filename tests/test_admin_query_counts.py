"""Every admin changelist costs the same number of queries with 5 rows and with 50 (a
query per row would add 45)."""

import datetime
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from locks.models import LockAssignment
from properties.models import CrewMember, Invitation, Membership
from reservations.models import Turnover
from tests.factories import (
    DeviceFactory,
    LockAssignmentFactory,
    MembershipFactory,
    OrganizationFactory,
    PropertyFactory,
    ReservationFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "properties_organization",
    "properties_membership",
    "properties_invitation",
    "properties_property",
    "properties_listing",
    "locks_lockproviderconnection",
    "locks_device",
    "locks_lockassignment",
    "reservations_reservation",
    "properties_crewmember",
    "reservations_turnover",
]


def grow(organization, rows: int) -> None:
    """Add `rows` of everything, each listing with a primary lock and a reservation."""
    for _ in range(rows):
        member = MembershipFactory(organization=organization, role=Membership.Role.STAFF)
        Invitation.objects.create(
            organization=organization,
            email=f"invited-{member.pk}@example.com",
            token_hash=uuid.uuid4().hex,
            invited_by=member.user,
            expires_at=timezone.now(),
        )
        reservation = ReservationFactory(
            listing__property=PropertyFactory(organization=organization)
        )
        LockAssignmentFactory(
            listing=reservation.listing,
            device=DeviceFactory(connection__organization=organization),
            role=LockAssignment.Role.PRIMARY,
        )
        Turnover.objects.create(
            organization=organization,
            listing=reservation.listing,
            after_stay=reservation,
            starts_at=reservation.check_out,
            ends_at=reservation.check_out + datetime.timedelta(hours=4),
            assignee=CrewMember.objects.create(organization=organization, name="Rosa"),
        )


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize("changelist", CHANGELISTS)
def test_changelist_query_count_does_not_grow_with_rows(
    client, changelist, django_assert_max_num_queries
):
    organization = OrganizationFactory()
    manager = UserFactory()
    MembershipFactory(organization=organization, user=manager)
    client.force_login(manager)
    # Page through all rows at once, so that 50 rows really are on the page.
    url = reverse(f"admin:{changelist}_changelist") + "?all="
    grow(organization, 5)
    with_5 = count_queries(client, url)
    grow(organization, 45)
    with django_assert_max_num_queries(with_5):
        response = client.get(url)
    changelist_view = response.context["cl"]
    if not changelist.endswith("organization"):  # a manager sees one organization
        assert len(changelist_view.result_list) >= 50
