"""A lock's reconcile reads the lock twice, both with the caller's Seam client: one list of
its managed codes and one of its unmanaged codes. Against Seam's fake, through the real SDK.
"""

import pytest

from locks.gateway import SeamGateway
from locks.models import UnmanagedCode
from reservations import readback

pytestmark = pytest.mark.django_db


def test_a_locks_reconcile_reads_it_twice_with_the_callers_client(wired, monkeypatch):
    made = wired.seam.access_codes.simulate.create_unmanaged_access_code(
        device_id=wired.side.provider_device_id, code="852741", name="Cleaner Ana"
    )
    gateway = SeamGateway.for_connection(wired.connection)
    wired.fake.requests(clear=True)

    def second_client(cls, connection):
        raise AssertionError("the reconcile opened a second Seam client")

    # Before: the unmanaged list opened (and closed) a client of its own for every lock.
    monkeypatch.setattr(SeamGateway, "for_connection", classmethod(second_client))
    with gateway:
        result = readback.lock_reconcile(device=wired.side, gateway=gateway)

    assert result.calls == 2
    assert wired.fake.requests() == {"/access_codes/list": 1, "/access_codes/unmanaged/list": 1}
    imported = UnmanagedCode.objects.get(device=wired.side)
    assert (imported.provider_id, imported.code) == (made.access_code_id, "852741")
