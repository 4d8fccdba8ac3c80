"""A code Seam is still changing (its `pending_mutations`) is shown as such and not
repaired twice.

Seam's fake never reports pending mutations: the launcher's control endpoint sets them on
a code (`set_pending_mutations`), and its get and list answers carry them as Seam's do.
"""

import datetime

import pytest
import time_machine
from django.utils import timezone

from locks.gateway import SeamGateway
from reservations import readback, services
from reservations.models import LockAccess, LockAccessLog
from tests.fixtures_lifecycle import run_at

pytestmark = pytest.mark.django_db

State = LockAccess.State
Log = LockAccessLog.Kind


def access_on(reservation, device) -> LockAccess:
    return LockAccess.objects.get(reservation=reservation, device=device)


def in_stay(wired):
    reservation = wired.book(days_ahead=-1, nights=3)
    run_at(timezone.now())
    return reservation


def test_the_gateway_reads_what_seam_is_still_pushing_to_the_lock(wired):
    reservation = in_stay(wired)
    gate = access_on(reservation, wired.gate)
    wired.fake.set_pending_mutations(gate.provider_id, "updating_code", "updating_time_frame")
    with SeamGateway.for_connection(wired.gate.connection) as gateway:
        listed = gateway.list_device_codes(device_id=wired.gate.provider_device_id)
        assert [c.pending_mutations for c in listed] == [("updating_code", "updating_time_frame")]
        got = gateway.get_access_code(gate.provider_id)
        assert got.pending_mutations == ("updating_code", "updating_time_frame")
    wired.fake.set_pending_mutations(gate.provider_id)  # Seam is done
    with SeamGateway.for_connection(wired.gate.connection) as gateway:
        assert gateway.get_access_code(gate.provider_id).pending_mutations == ()


def test_a_code_seam_is_still_changing_is_not_restored_a_second_time(wired):
    reservation = in_stay(wired)
    gate = access_on(reservation, wired.gate)
    wired.fake.modify_external(gate.provider_id, "111999")
    # Seam is putting Keystay's code back by itself: the list still shows the changed
    # digits, with the change pending.
    wired.fake.set_pending_mutations(gate.provider_id, "updating_code")
    later = timezone.now() + datetime.timedelta(minutes=11)  # past the grace period
    with time_machine.travel(later, tick=False):
        found = readback.lock_reconcile_by_id(wired.gate.pk)
    assert "still changing at the provider (updating code)" in found
    gate.refresh_from_db()
    assert gate.drift_seen_at is None and gate.state == State.REQUESTED
    assert Log.CHANGED not in gate.logs.values_list("kind", flat=True)
    requests = wired.fake.requests()
    run_at(later)
    assert wired.fake.requests().get("/access_codes/update", 0) == requests.get(
        "/access_codes/update", 0
    )  # nothing sent again

    wired.fake.set_pending_mutations(gate.provider_id)  # Seam gave up: now it is drift
    with time_machine.travel(later, tick=False):
        assert "changed, waiting for the provider" in readback.lock_reconcile_by_id(wired.gate.pk)


def test_a_code_seam_is_deleting_already_is_not_deleted_again(wired):
    reservation = in_stay(wired)
    gate = access_on(reservation, wired.gate)
    provider_id = gate.provider_id
    wired.fake.set_pending_mutations(provider_id, "deleting")
    services.reservation_cancel(reservation=reservation)
    before = wired.fake.requests().get("/access_codes/delete", 0)
    run_at(timezone.now())
    gate.refresh_from_db()
    # Still listed while Seam deletes it: the worker waits and checks again, without a
    # second delete; the side door's code, which Seam was not deleting, is deleted.
    assert gate.state == State.REMOVING
    assert wired.fake.requests().get("/access_codes/delete", 0) == before + 1
    assert [c.access_code_id for c in wired.codes_on(wired.gate)] == [provider_id]
    assert wired.codes_on(wired.side) == []
