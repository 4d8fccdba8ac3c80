"""Clients of the API: a token per person, as a PMS integration holds one."""

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    # Throttle counters live in the (process-wide) cache: each test starts at zero.
    cache.clear()
    yield
    cache.clear()


def token_client(user) -> APIClient:
    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def manager_api(org_a) -> APIClient:
    return token_client(org_a.manager)


@pytest.fixture
def staff_api(org_a) -> APIClient:
    return token_client(org_a.staff)


@pytest.fixture
def other_api(org_b) -> APIClient:
    """The manager of another organization."""
    return token_client(org_b.manager)
