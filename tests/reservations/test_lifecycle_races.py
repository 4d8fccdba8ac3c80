"""Races between a worker and a re-plan, driven step by step.

A race cannot be timed from outside without sleeping, so these tests take the worker's
own steps (claim, program, record) in the order that makes the race happen.
"""

import datetime

import pytest
from django.utils import timezone

from core.crypto import code_digest
from reservations import provisioning, services
from reservations.models import LockAccess, LockAccessLog
from tests.fixtures_lifecycle import run_at

pytestmark = pytest.mark.django_db


# The worker records its outcome on the row as it claimed it, with one compare-and-set
# ("as claimed"), or, when that row changed meanwhile, on the row read again under a lock.
@pytest.mark.parametrize("as_claimed", [True, False], ids=["as-claimed", "read-again"])
def test_a_cancellation_while_a_worker_creates_the_code_still_removes_it(wired, as_claimed):
    reservation = wired.book(days_ahead=0)
    access = LockAccess.objects.select_related("device__connection", "reservation").get(
        reservation=reservation, device=wired.gate
    )
    token = provisioning._claim(access)  # a worker read the row and took it...
    assert token
    services.reservation_cancel(reservation=reservation)  # ...the PMS cancels meanwhile...
    gateways = provisioning._Gateways()
    try:  # ...and the worker, with its stale copy, creates the code and records it.
        outcome = provisioning._program(access, gateways.for_device(access.device), token)
        provisioning._record_success(
            access.pk, token, outcome, read=access if as_claimed else None
        )
    finally:
        gateways.close()
    assert len(wired.codes_on(wired.gate)) == 1
    access.refresh_from_db()
    assert access.provider_id and access.due_at is not None  # not forgotten as "revoked"
    run_at(timezone.now() + datetime.timedelta(seconds=1))
    assert wired.codes_on(wired.gate) == []
    access.refresh_from_db()
    assert access.state == LockAccess.State.REVOKED


def test_a_refused_code_update_still_removes_the_old_code_at_check_out(wired):
    reservation = wired.book(days_ahead=0, nights=1)
    run_at(timezone.now())
    gate = LockAccess.objects.get(reservation=reservation, device=wired.gate)
    # Seam refuses an update (say, a rotated code): nothing is retried until a change...
    LockAccess.objects.filter(pk=gate.pk).update(due_at=timezone.now())
    token = provisioning._claim(gate)
    provisioning._record_failure(gate.pk, token, "The lock refused this code.", retryable=False)
    gate.refresh_from_db()
    # ...but the code on the lock still leaves it at the end of its window.
    assert gate.state == LockAccess.State.FAILED and gate.due_at == gate.ends_at
    run_at(gate.ends_at + datetime.timedelta(minutes=1))
    assert wired.codes_on(wired.gate) == []


def test_an_outcome_on_a_row_unchanged_since_its_claim_is_written_whole(wired):
    reservation = wired.book(days_ahead=0)
    access = LockAccess.objects.select_related("device__connection", "reservation").get(
        reservation=reservation, device=wired.gate
    )
    token = provisioning._claim(access)
    gateways = provisioning._Gateways()
    try:
        outcome = provisioning._program(access, gateways.for_device(access.device), token)
        provisioning._record_success(access.pk, token, outcome, read=access)
    finally:
        gateways.close()
    (on_gate,) = wired.codes_on(wired.gate)
    row = LockAccess.objects.get(pk=access.pk)
    assert row.state == LockAccess.State.REQUESTED and row.claim_token == ""
    assert row.provider_id == on_gate.access_code_id and row.programmed_at is not None
    # The code the lock holds is kept encrypted with its digest (the search finds it).
    assert row.provider_code == reservation.code.value
    assert LockAccess.objects.filter(provider_code_digest=code_digest(on_gate.code)).get() == row
    assert row.updated_at > access.created_at
    assert list(row.logs.values_list("kind", flat=True)) == [LockAccessLog.Kind.REQUESTED]
