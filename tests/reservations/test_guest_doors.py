"""What the guest is told: each door with the code that opens it, and when a code can be
sent at all."""

import datetime

import pytest
from django.core.exceptions import ValidationError

from locks.models import LockAssignment
from reservations import services
from reservations.doors import guest_doors, send_problem
from reservations.models import LockAccess, Reservation
from tests.fixtures_lifecycle import run_at
from tests.reservations.admin_pages import change_url, do_url

pytestmark = pytest.mark.django_db

MINUTE = datetime.timedelta(minutes=1)


def own_code_on_gate(wired, reservation, code="4829"):
    gate = LockAssignment.objects.get(listing=wired.listing, device=wired.gate)
    services.override_set(reservation=reservation, assignment=gate, code=code)
    reservation.refresh_from_db()
    return code


def test_each_door_lists_its_own_code_and_marks_the_one_that_differs(wired):
    reservation = wired.book()
    own = own_code_on_gate(wired, reservation)
    doors = {door.name: door for door in guest_doors(reservation)}
    assert set(doors) == {"Garden Gate", "Side Door"}  # not the door without guest access
    assert doors["Garden Gate"].code == own and doors["Garden Gate"].own_code
    assert doors["Side Door"].code == reservation.code.value
    assert not doors["Side Door"].own_code


def test_a_door_shows_the_code_the_lock_really_holds(wired):
    """A lock that picks its own codes holds the one it picked, not the stay's."""
    wired.side.can_specify_pin_code = False
    wired.side.save(update_fields=["can_specify_pin_code"])
    reservation = wired.book()
    side = lambda: {d.name: d for d in guest_doors(reservation)}["Side Door"]  # noqa: E731
    assert side().code == ""  # not picked yet: nothing to tell the guest for this door
    run_at(LockAccess.objects.get(reservation=reservation, device=wired.side).program_at + MINUTE)
    (held,) = wired.codes_on(wired.side)
    reservation.refresh_from_db()
    assert side().code == held.code and side().code != reservation.code.value
    assert side().own_code


def test_the_reservation_page_lists_every_door_with_its_code(wired, staff_client):
    reservation = wired.book()
    own = own_code_on_gate(wired, reservation)
    page = staff_client.get(change_url(reservation)).content.decode()
    assert 'data-door="Garden Gate"' in page and 'data-door="Side Door"' in page
    gate_row = page.split('data-door="Garden Gate"')[1].split("</li>")[0]
    side_row = page.split('data-door="Side Door"')[1].split("</li>")[0]
    assert own in gate_row and "this door has its own code" in gate_row
    assert reservation.code.value in side_row and "own code" not in side_row
    assert "Planned" in gate_row and "Planned" in side_row  # each door's state at the top


def test_the_api_gives_each_door_its_code_to_members_and_masks_it_in_lists(wired, staff_client):
    reservation = wired.book()
    own = own_code_on_gate(wired, reservation)
    url = f"/api/v1/reservations/{reservation.pk}/"
    locks = {lock["device"]: lock for lock in staff_client.get(url).json()["locks"]}
    assert locks[wired.gate.pk]["code"] == own and locks[wired.gate.pk]["own_code"] is True
    assert locks[wired.side.pk]["code"] == reservation.code.value
    assert locks[wired.side.pk]["own_code"] is False
    listed = staff_client.get("/api/v1/reservations/").json()["results"]
    (row,) = [r for r in listed if r["id"] == reservation.pk]
    assert {lock["code"] for lock in row["locks"]} == {"••••"}


@pytest.mark.parametrize(
    "status, reason",
    [
        (Reservation.Status.PENDING, "not confirmed"),
        (Reservation.Status.CANCELLED, "cancelled"),
    ],
)
def test_a_code_is_never_marked_sent_for_a_stay_without_one(wired, status, reason):
    reservation = wired.book(status=status)
    assert reason in send_problem(reservation)
    with pytest.raises(ValidationError, match=reason):
        services.code_mark_sent(reservation=reservation)


def test_a_stay_whose_listing_has_no_guest_door_cannot_be_sent_a_code(wired, staff_client):
    LockAssignment.objects.filter(listing=wired.listing).update(guest_access=False)
    reservation = wired.book()
    assert reservation.code.value  # generated, but it opens nothing
    response = staff_client.post(do_url(reservation, "mark-sent"), follow=True)
    page = response.content.decode()
    assert "No door at this listing takes guest codes" in page
    assert "[&#x27;" not in page  # a sentence, not a Python list
    reservation.code.refresh_from_db()
    assert reservation.code.sent_at is None


def test_a_confirmed_stay_with_doors_is_marked_sent(wired, staff_client):
    reservation = wired.book()
    assert send_problem(reservation) is None
    staff_client.post(do_url(reservation, "mark-sent"))
    reservation.code.refresh_from_db()
    assert reservation.code.sent_at is not None
