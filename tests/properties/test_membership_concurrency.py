"""Simultaneous member changes keep an organization's manager and use a link once (PostgreSQL)."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from properties import services
from properties.models import Membership
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="row locks between connections are exercised on PostgreSQL (CI runs both)",
    ),
]


def side_by_side(*calls):
    """Run each call in its own thread and connection, released together."""
    start = threading.Barrier(len(calls))
    results, errors = [], []

    def run(call):
        try:
            start.wait()
            results.append(call())
        except Exception as error:  # counted by the caller
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results, errors


def test_two_managers_demoting_each_other_leave_one_manager():
    organization = OrganizationFactory()
    first, second = (MembershipFactory(organization=organization) for _ in range(2))
    results, errors = side_by_side(
        lambda: services.membership_update(membership=first, role="staff"),
        lambda: services.membership_update(membership=second, role="staff"),
    )
    assert len(results) == 1
    assert len(errors) == 1 and isinstance(errors[0], ValidationError)
    assert Membership.objects.filter(organization=organization, role="manager").count() == 1


def test_one_link_accepted_twice_at_once_joins_once():
    manager = MembershipFactory()
    created = services.invitation_create(
        organization=manager.organization,
        email="twice@example.com",
        role="staff",
        invited_by=manager.user,
        base_url="http://testserver",
    )
    token = created.link.split("/")[-2]
    person = UserFactory(username="twice", email="twice@example.com")
    results, errors = side_by_side(
        lambda: services.invitation_accept(token=token, user=person),
        lambda: services.invitation_accept(token=token, user=person),
    )
    assert len(results) == 1
    assert len(errors) == 1 and isinstance(errors[0], services.InvitationError)
    assert Membership.objects.filter(user=person).count() == 1
