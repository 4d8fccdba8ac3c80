"""Rotating a stay's code asks first, says exactly which doors change (a door with a code
of its own keeps it), and afterwards the page agrees with itself on what the guest knows."""

import re

import pytest
from django.utils import timezone

from guests.models import GuestMessage
from locks.models import LockAssignment
from reservations import services
from tests.fixtures_lifecycle import run_at
from tests.reservations.admin_pages import change_url, do_url

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/reservations/reservation/"


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_rotate_button_asks_first_and_names_the_doors(wired, staff_client):
    reservation = wired.book(days_ahead=0)
    old = reservation.code.value
    page = staff_client.post(do_url(reservation, "rotate"))
    assert page.status_code == 200
    text = _text(page.content.decode())
    assert "Rotate code?" in text
    assert "The new code replaces the old one on Garden Gate and Side Door." in text
    assert 'value="Yes, rotate code"' in page.content.decode()
    reservation.refresh_from_db()
    assert reservation.code.value == old  # nothing yet


def test_a_door_with_its_own_code_is_named_as_keeping_it(
    wired, staff_client, django_capture_on_commit_callbacks
):
    reservation = wired.book(days_ahead=0)
    gate = LockAssignment.objects.get(listing=wired.listing, device=wired.gate)
    services.override_set(reservation=reservation, assignment=gate, code="583917")
    ask = _text(staff_client.post(do_url(reservation, "rotate")).content.decode())
    said = "The new code replaces the old one on Side Door. Garden Gate keeps its own code."
    assert said in ask
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            do_url(reservation, "rotate"), {"confirmed": "yes"}, follow=True
        )
    assert said in _text(response.content.decode())
    assert "on every lock" not in response.content.decode()
    accesses = {a.device: a for a in reservation.lock_accesses.all()}
    assert accesses[wired.gate].code == "583917"


def test_the_bulk_rotate_action_asks_first(wired, staff_client):
    reservation = wired.book(days_ahead=0)
    old = reservation.code.value
    data = {"action": "rotate_selected", "_selected_action": [reservation.pk]}
    page = staff_client.post(CHANGELIST, data)
    text = _text(page.content.decode())
    assert "Rotate code?" in text and "Garden Gate and Side Door" in text
    reservation.refresh_from_db()
    assert reservation.code.value == old
    staff_client.post(CHANGELIST, {**data, "confirmed": "yes"})
    reservation.refresh_from_db()
    assert reservation.code.value != old


def test_after_a_rotation_both_boxes_say_the_new_code_was_not_sent(
    wired, staff_client, org_a, django_capture_on_commit_callbacks
):
    reservation = wired.book(days_ahead=0, guest_email="maria@example.com")
    run_at(timezone.now())
    GuestMessage.objects.create(
        organization=org_a.organization,
        reservation=reservation,
        kind="code",
        channel=GuestMessage.Channel.EMAIL,
        trigger=GuestMessage.Trigger.STAFF,
        state=GuestMessage.State.SENT,
        recipient="maria@example.com",
        sent_at=timezone.now(),
    )
    services.code_mark_sent(reservation=reservation)
    before = _text(staff_client.get(change_url(reservation)).content.decode())
    assert "Sent to guest: not yet" not in before
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(do_url(reservation, "rotate"), {"confirmed": "yes"})
    page = staff_client.get(change_url(reservation)).content.decode()
    door_box = _text(page.split('id="door-code"', 1)[1].split("</ul>", 1)[0])
    guest_box = _text(page.split('id="sent-to-guest"', 1)[1].split("</p>", 1)[0])
    assert "Sent to guest: not yet" in door_box
    assert "Sent to guest: not yet" in guest_box
    assert "had the code before it was rotated" in guest_box
