"""The reservation page: the code, each lock's state, overrides and the staff's buttons."""

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from locks.models import LockAssignment
from reservations.models import LockAccess, Reservation
from tests.factories import ListingFactory
from tests.fixtures_lifecycle import run_at
from tests.reservations.admin_pages import change_url, do_url, form_data

pytestmark = pytest.mark.django_db


def test_confirming_in_the_admin_generates_the_code_and_plans_each_lock(
    wired, staff_client, org_a
):
    reservation = wired.book(status=Reservation.Status.PENDING)
    assert not reservation.lock_accesses.exists()
    response = staff_client.post(
        change_url(reservation), form_data(reservation, status="confirmed")
    )
    assert response.status_code == 302
    reservation.refresh_from_db()
    assert reservation.confirmed_at is not None
    page = staff_client.get(change_url(reservation)).content.decode()
    assert reservation.code.value in page  # revealed on its own page
    assert "Garden Gate" in page and "Side Door" in page and "Planned" in page


def test_the_code_is_masked_in_the_list(wired, staff_client):
    reservation = wired.book()
    page = staff_client.get(reverse("admin:reservations_reservation_changelist")).content
    assert reservation.code.value.encode() not in page
    assert "••••".encode() in page


def test_an_override_code_refused_by_the_lock_gets_a_field_error(wired, staff_client):
    reservation = wired.book()
    gate = LockAssignment.objects.get(listing=wired.listing, device=wired.gate)
    data = form_data(
        reservation,
        **{
            "overrides-TOTAL_FORMS": "1",
            "overrides-0-assignment": gate.pk,
            "overrides-0-code": "128574",  # Garden Gate refuses codes starting with 12
        },
    )
    response = staff_client.post(change_url(reservation), data)
    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][1].formset.errors[0]
    assert errors["code"] == ["Garden Gate does not accept codes starting with 12."]
    assert not reservation.overrides.exists()


def test_an_override_changes_its_lock_alone(wired, staff_client):
    reservation = wired.book()
    gate = LockAssignment.objects.get(listing=wired.listing, device=wired.gate)
    data = form_data(
        reservation,
        **{
            "overrides-TOTAL_FORMS": "1",
            "overrides-0-assignment": gate.pk,
            "overrides-0-code": "583917",
        },
    )
    assert staff_client.post(change_url(reservation), data).status_code == 302
    accesses = {a.device: a for a in reservation.lock_accesses.all()}
    assert accesses[wired.gate].code == "583917"
    assert accesses[wired.side].code == reservation.code.value


def test_the_cancel_button_revokes_the_code_on_every_lock(
    wired, staff_client, django_capture_on_commit_callbacks
):
    reservation = wired.book(days_ahead=0)
    run_at(timezone.now())
    assert wired.codes_on(wired.gate)
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(do_url(reservation, "cancel"), {"confirmed": "yes"})
    assert response.status_code == 302
    assert wired.codes_on(wired.gate) == [] and wired.codes_on(wired.side) == []
    page = staff_client.get(change_url(reservation)).content.decode()
    assert "Revoked (reservation cancelled)" in page


def test_end_stay_and_rotate_buttons(wired, staff_client, django_capture_on_commit_callbacks):
    reservation = wired.book(days_ahead=0)
    run_at(timezone.now())
    old = reservation.code.value
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(do_url(reservation, "rotate"), {"confirmed": "yes"})
    reservation.refresh_from_db()
    assert reservation.code.value != old
    assert [c.code for c in wired.codes_on(wired.gate)] == [reservation.code.value]
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(do_url(reservation, "end-stay"), {"confirmed": "yes"})
    assert wired.codes_on(wired.gate) == []
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CHECKED_OUT


def test_a_failing_lock_is_shown_with_its_error_and_retried_on_demand(
    wired, staff_client, django_capture_on_commit_callbacks
):
    reservation = wired.book(days_ahead=0)
    wired.fake.control("/outage", routes=["/access_codes/create"])
    try:
        run_at(timezone.now())
    finally:
        wired.fake.control("/outage", routes=[])
    page = staff_client.get(change_url(reservation)).content.decode()
    assert "Seam is unavailable" in page and "next try" in page
    listing_page = staff_client.get(
        reverse("admin:reservations_reservation_changelist") + "?codes=failing"
    ).content.decode()
    assert "2 failing" in listing_page
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(do_url(reservation, "retry"))
    assert {a.state for a in reservation.lock_accesses.all()} == {LockAccess.State.REQUESTED}


def test_buttons_refuse_another_organizations_reservation(wired, client, org_b):
    reservation = wired.book()
    client.force_login(org_b.manager)
    assert client.post(do_url(reservation, "cancel")).status_code == 404
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CONFIRMED


def test_a_reservation_with_a_code_on_a_lock_cannot_be_deleted(wired, manager_client):
    reservation = wired.book(days_ahead=0)
    run_at(timezone.now())
    url = reverse("admin:reservations_reservation_delete", args=[reservation.pk])
    assert manager_client.post(url, {"post": "yes"}).status_code == 403
    assert Reservation.objects.filter(pk=reservation.pk).exists()


def test_an_override_on_another_listings_lock_is_refused(wired, staff_client):
    reservation = wired.book()
    elsewhere = LockAssignment.objects.create(
        listing=ListingFactory(property=wired.listing.property), device=wired.gate
    )
    data = form_data(
        reservation,
        **{"overrides-TOTAL_FORMS": "1", "overrides-0-assignment": elsewhere.pk},
    )
    response = staff_client.post(change_url(reservation), data)
    assert response.status_code == 200
    assert "assignment" in response.context["inline_admin_formsets"][1].formset.errors[0]


def test_unicode_digits_in_an_override_code_are_a_field_error(wired, staff_client):
    reservation = wired.book()
    gate = LockAssignment.objects.get(listing=wired.listing, device=wired.gate)
    data = form_data(
        reservation,
        **{
            "overrides-TOTAL_FORMS": "1",
            "overrides-0-assignment": gate.pk,
            "overrides-0-code": "²³⁵⁸⁹⁷",
        },
    )
    response = staff_client.post(change_url(reservation), data)
    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][1].formset.errors[0]
    assert errors["code"] == ["A code is made of digits only."]


def test_ending_a_pending_stay_is_refused_with_a_message(wired, staff_client):
    reservation = wired.book(status=Reservation.Status.PENDING)
    response = staff_client.post(
        reverse("admin:reservations_reservation_do", args=[reservation.pk, "end-stay"]),
        {"confirmed": "yes"},
        follow=True,
    )
    assert "Only a confirmed stay can be ended." in response.content.decode()
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.PENDING


def buttons(page: str) -> set[str]:
    """The labels of the reservation page's action buttons."""
    row = (
        page.split('id="reservation-actions"')[1].split("</div>")[0]
        if "reservation-actions" in page
        else ""
    )
    return set(re.findall(r'value="([^"]+)"', row))


def test_the_page_offers_only_the_actions_that_apply(wired, staff_client):
    reservation = wired.book()
    page = staff_client.get(change_url(reservation)).content.decode()
    assert buttons(page) == {
        "End stay now",
        "Cancel reservation",
        "Rotate code",
        "Mark code as sent",
    }  # nothing failed: no retry
    pending = wired.book(status=Reservation.Status.PENDING, days_ahead=10)
    page = staff_client.get(change_url(pending)).content.decode()
    assert buttons(page) == {"Cancel reservation"}
    staff_client.post(do_url(reservation, "cancel"), {"confirmed": "yes"})
    page = staff_client.get(change_url(reservation)).content.decode()
    assert buttons(page) == set()  # no end stay, retry, rotate or mark sent when cancelled


def test_cancel_asks_first_and_lands_in_the_history_with_who(wired, staff_client, org_a):
    reservation = wired.book()
    asked = staff_client.post(do_url(reservation, "cancel"))
    assert asked.status_code == 200 and "revoked on every lock at once" in asked.content.decode()
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CONFIRMED  # nothing done yet
    staff_client.post(do_url(reservation, "cancel"), {"confirmed": "yes"})
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CANCELLED
    (entry,) = LogEntry.objects.filter(object_id=str(reservation.pk))
    assert entry.user == org_a.staff and "Cancel reservation" in entry.get_change_message()
    history_url = reverse("admin:reservations_reservation_history", args=[reservation.pk])
    history = staff_client.get(history_url).content.decode()
    assert "Cancel reservation" in history


def test_the_bulk_cancel_asks_first_too(wired, staff_client):
    first = wired.book()
    second = wired.book(days_ahead=10)
    changelist = reverse("admin:reservations_reservation_changelist")
    chosen = {"action": "cancel_selected", "_selected_action": [first.pk, second.pk]}
    asked = staff_client.post(changelist, chosen)
    assert asked.status_code == 200 and "Yes, cancel reservation" in asked.content.decode()
    assert not Reservation.objects.filter(status=Reservation.Status.CANCELLED).exists()
    staff_client.post(changelist, {**chosen, "confirmed": "yes"})
    assert set(Reservation.objects.filter(status="cancelled")) == {first, second}
