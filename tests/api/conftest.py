"""Clients of the API: an organization API key each, as a PMS integration holds one."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from api.services import api_key_create
from properties.models import Membership


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    # Throttle counters live in the (process-wide) cache: each test starts at zero.
    cache.clear()
    yield
    cache.clear()


def key_client(organization, role=Membership.Role.MANAGER, *, name="PMS") -> APIClient:
    """A client signed with a new API key of `organization` with `role`."""
    _, plaintext = api_key_create(organization=organization, name=name, role=role)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


def session_client(user) -> APIClient:
    """A person signed in (the browsable API): acts in all their organizations."""
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def manager_api(org_a) -> APIClient:
    return key_client(org_a.organization, Membership.Role.MANAGER)


@pytest.fixture
def staff_api(org_a) -> APIClient:
    return key_client(org_a.organization, Membership.Role.STAFF)


@pytest.fixture
def other_api(org_b) -> APIClient:
    """A manager key of another organization."""
    return key_client(org_b.organization, Membership.Role.MANAGER)
