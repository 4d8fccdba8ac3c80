"""Fault drill: the provider fails, then is stopped and comes back having lost our codes.

Two clusters on Redis and PostgreSQL work while Seam (its fake) first answers 503 on every
access-code route, then is killed and started again at the same address. The restarted
fake holds none of the codes and hands out ids from access_code1 again, ids Keystay
recorded for other codes: "the provider lost our codes". The read-back must put every
stay's code back, a cancellation made during the outage must still revoke its code, and a
stale id must never make Keystay delete another stay's code that now has that id.
"""

import time

import pytest

from reservations.models import LockAccess, LockAccessLog

from .conftest import DRILLS_ONE_AT_A_TIME, POSTGRESQL_ONLY, door_problems, settle, wait_for

pytestmark = [POSTGRESQL_ONLY, pytest.mark.slow, DRILLS_ONE_AT_A_TIME]

Log = LockAccessLog.Kind
ACCESS_CODE_ROUTES = [
    "/access_codes/create",
    "/access_codes/list",
    "/access_codes/get",
    "/access_codes/update",
    "/access_codes/delete",
    "/access_codes/unmanaged/list",
]


def _ids(stay) -> set[str]:
    return set(
        LockAccess.objects.filter(reservation_id=stay.id)
        .exclude(provider_id="")
        .values_list("provider_id", flat=True)
    )


def test_provider_outage_then_restart_losing_every_code(make_stack):
    stack = make_stack(listings=4)
    flat_1, flat_2, flat_3, flat_4 = stack.listings
    cancelled = stack.book(flat_1, starts_in=-3600, lasts=86400, guest="Cancelled Meanwhile")
    wait_for("the first stay's codes", lambda: len(_ids(cancelled)) == 2, timeout=30)
    kept = stack.book(flat_2, starts_in=-3600, lasts=86400, guest="Kept Through")
    wait_for("the second stay's codes", lambda: len(_ids(kept)) == 2, timeout=30)
    stale_ids = _ids(cancelled)

    # Seam answers 503 on every access-code route: a booking and a cancellation meanwhile.
    stack.fake.control("/outage", routes=ACCESS_CODE_ROUTES)
    during = stack.book(flat_3, starts_in=-600, lasts=86400, guest="Booked During")
    assert stack.cancel(cancelled).status_code == 200
    wait_for(
        "the failures recorded",
        lambda: (
            LockAccess.objects.filter(
                reservation_id__in=[during.id, cancelled.id], state=LockAccess.State.FAILED
            ).count()
            == 4
        ),
        timeout=20,
    )

    # Then Seam is stopped (killed) for a while, and comes back empty, counting from
    # access_code1 again. The first stay booked now gets the ids the cancelled stay had.
    stack.fake.process.kill()
    time.sleep(10)
    stack.restart_fake()
    assert stack.fake.state()["access_codes"] == []
    after = stack.book(flat_4, starts_in=-60, lasts=86400, guest="Booked After")
    wait_for("the new stay's codes", lambda: len(_ids(after)) == 2, timeout=30)
    assert _ids(after) == stale_ids, "the drill expects the restarted fake to reuse the ids"

    stays = [cancelled, kept, during, after]
    settle(stack, stays, timeout=150)

    # The kept stay's codes were found missing by the read-back and programmed again.
    kinds = set(
        LockAccessLog.objects.filter(access__reservation_id=kept.id).values_list("kind", flat=True)
    )
    assert {Log.MISSING, Log.RECREATED} <= kinds
    assert set(
        LockAccess.objects.filter(reservation_id=cancelled.id).values_list("state", flat=True)
    ) == {LockAccess.State.REVOKED}
    # Revoking the cancelled stay never deleted the new stay's codes under the reused ids:
    # they were never missing, and are still those ids.
    after_kinds = set(
        LockAccessLog.objects.filter(access__reservation_id=after.id).values_list(
            "kind", flat=True
        )
    )
    assert Log.MISSING not in after_kinds, after_kinds
    assert _ids(after) == stale_ids
    assert stack.health("backlog").status_code == 200
    assert door_problems(stack, stays) == []
