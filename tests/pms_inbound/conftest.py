import pytest

from pms_inbound.models import PmsConnection
from pms_inbound.services import connection_create

from . import payloads


@pytest.fixture
def guesty(org_a):
    connection, _ = connection_create(
        organization=org_a.organization,
        kind=PmsConnection.Kind.GUESTY,
        name="Guesty",
        webhook_secret=payloads.GUESTY_SECRET,
    )
    return connection


@pytest.fixture
def hostaway(org_a):
    connection, _ = connection_create(
        organization=org_a.organization,
        kind=PmsConnection.Kind.HOSTAWAY,
        name="Hostaway",
        webhook_login=payloads.HOSTAWAY_LOGIN,
        webhook_secret=payloads.HOSTAWAY_PASSWORD,
    )
    return connection
