"""A provider that lost its codes may give a recorded id to another code (Seam's fake counts
from access_code1 again after a restart). Removing a stay's code then takes off only what
is that stay's on that lock, never the other code now under the old id.

Found by the fault drill tests/drills/test_provider_drills.py, where a cancellation made
while Seam was down deleted, once Seam was back, a new stay's code on another lock.
"""

import datetime

import pytest
from django.utils import timezone

from properties.models import Listing
from reservations import services
from reservations.models import LockAccess
from tests.fixtures_lifecycle import run_at

pytestmark = pytest.mark.django_db

State = LockAccess.State


def _stay_on(wired, device, guest_name: str):
    """A stay under way at another listing whose guest lock is `device`, programmed."""
    listing = Listing.objects.create(
        property=wired.listing.property, name=f"{guest_name}'s Flat", code_lead_time_minutes=0
    )
    listing.assignments.create(device=device, role="primary", guest_access=True)
    now = timezone.now()
    stay = services.reservation_create(
        listing=listing,
        guest_name=guest_name,
        check_in=now,
        check_out=now + datetime.timedelta(days=2),
        status="confirmed",
    )
    run_at(timezone.now())
    return stay


def _lost_and_reused(stale, device, wired, provider_id: str) -> None:
    """The provider lost `stale`'s code on `device` and gave its id to another code: what
    Keystay recorded is now that other code's id."""
    access = LockAccess.objects.get(reservation=stale, device=device)
    wired.seam.access_codes.delete(access_code_id=access.provider_id)
    LockAccess.objects.filter(pk=access.pk).update(provider_id=provider_id)


def test_a_revocation_leaves_alone_the_code_of_another_lock_under_the_recorded_id(wired):
    stale = wired.book(days_ahead=0, nights=2, guest_name="Lost Code")
    run_at(timezone.now())
    other = _stay_on(wired, wired.back, "Other Guest")
    other_code = LockAccess.objects.get(reservation=other, device=wired.back).provider_id
    _lost_and_reused(stale, wired.gate, wired, other_code)

    services.reservation_cancel(reservation=stale)
    services.process_due()

    assert {a.state for a in stale.lock_accesses.all()} == {State.REVOKED}
    assert wired.codes_on(wired.gate) == [] and wired.codes_on(wired.side) == []
    (left,) = wired.codes_on(wired.back)
    assert (left.access_code_id, left.code) == (other_code, other.code.value)


def test_a_revocation_leaves_alone_another_stays_code_on_the_same_lock_under_the_recorded_id(
    wired,
):
    stale = wired.book(days_ahead=0, nights=2, guest_name="Lost Code")
    run_at(timezone.now())
    gate_code = LockAccess.objects.get(reservation=stale, device=wired.gate).provider_id
    wired.seam.access_codes.delete(access_code_id=gate_code)
    other = _stay_on(wired, wired.gate, "Other Guest")  # another listing sharing the gate
    other_code = LockAccess.objects.get(reservation=other, device=wired.gate).provider_id
    LockAccess.objects.filter(reservation=stale, device=wired.gate).update(provider_id=other_code)

    services.reservation_cancel(reservation=stale)
    services.process_due()

    assert LockAccess.objects.get(reservation=stale, device=wired.gate).state == State.REVOKED
    (left,) = wired.codes_on(wired.gate)
    assert (left.access_code_id, left.code) == (other_code, other.code.value)
