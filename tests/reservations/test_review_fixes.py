"""Races and edges found in review: each would leave a code on a door or a 500."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from locks.models import LockAssignment
from reservations import services
from reservations.models import LockAccess, Reservation
from tests.factories import ListingFactory
from tests.fixtures_lifecycle import run_at

pytestmark = pytest.mark.django_db


def test_a_cancellation_while_a_worker_creates_the_code_still_removes_it(wired):
    reservation = wired.book(days_ahead=0)
    access = LockAccess.objects.select_related("device__connection", "reservation").get(
        reservation=reservation, device=wired.gate
    )
    token = services._claim(access.pk)  # a worker took the row and read it...
    assert token
    services.reservation_cancel(reservation=reservation)  # ...the PMS cancels meanwhile...
    gateways = services._Gateways()
    try:  # ...and the worker, with its stale copy, creates the code and records it.
        outcome = services._program(access, gateways.for_device(access.device), token)
        services._record_success(access.pk, token, outcome)
    finally:
        gateways.close()
    assert len(wired.codes_on(wired.gate)) == 1
    access.refresh_from_db()
    assert access.provider_id and access.due_at is not None  # not forgotten as "revoked"
    run_at(timezone.now() + datetime.timedelta(seconds=1))
    assert wired.codes_on(wired.gate) == []
    access.refresh_from_db()
    assert access.state == LockAccess.State.REVOKED


def test_a_reservation_with_a_code_on_a_lock_cannot_be_deleted(wired, manager_client):
    reservation = wired.book(days_ahead=0)
    run_at(timezone.now())
    url = reverse("admin:reservations_reservation_delete", args=[reservation.pk])
    assert manager_client.post(url, {"post": "yes"}).status_code == 403
    assert Reservation.objects.filter(pk=reservation.pk).exists()


def test_moving_an_assignment_to_another_listing_re_plans_the_old_one(wired, manager_client):
    reservation = wired.book(days_ahead=0)
    run_at(timezone.now())
    other = ListingFactory(property=wired.listing.property)
    side = LockAssignment.objects.get(listing=wired.listing, device=wired.side)
    response = manager_client.post(
        reverse("admin:locks_lockassignment_change", args=[side.pk]),
        {"listing": other.pk, "device": wired.side.pk, "role": "secondary", "guest_access": "on"},
    )
    assert response.status_code == 302
    run_at(timezone.now())
    assert reservation.code.value not in [c.code for c in wired.codes_on(wired.side)]


def test_a_refused_code_update_still_removes_the_old_code_at_check_out(wired):
    reservation = wired.book(days_ahead=0, nights=1)
    run_at(timezone.now())
    gate = LockAccess.objects.get(reservation=reservation, device=wired.gate)
    # Seam refuses an update (say, a rotated code): nothing is retried until a change...
    LockAccess.objects.filter(pk=gate.pk).update(due_at=timezone.now())
    token = services._claim(gate.pk)
    services._record_failure(gate.pk, token, "The lock refused this code.", retryable=False)
    gate.refresh_from_db()
    # ...but the code on the lock still leaves it at the end of its window.
    assert gate.state == LockAccess.State.FAILED and gate.due_at == gate.ends_at
    run_at(gate.ends_at + datetime.timedelta(minutes=1))
    assert wired.codes_on(wired.gate) == []


def test_an_override_on_another_listings_lock_is_refused(wired, staff_client):
    from .test_reservation_page import change_url, form_data

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
    from .test_reservation_page import change_url, form_data

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
        follow=True,
    )
    assert "Only a confirmed stay can be ended." in response.content.decode()
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.PENDING


def test_confirming_again_after_an_early_end_gives_the_code_back(wired):
    reservation = wired.book(days_ahead=0)
    services.reservation_end_stay(reservation=reservation)
    services.reservation_update(reservation=reservation, status=Reservation.Status.CONFIRMED)
    run_at(timezone.now())
    assert [c.code for c in wired.codes_on(wired.gate)] == [reservation.code.value]


def test_the_activity_feed_refuses_dates_out_of_range(manager_client):
    response = manager_client.get(reverse("activity_feed"), {"date_to": "9999-12-31"})
    assert response.status_code == 200
    assert "between the years 2000 and 2100" in response.content.decode()
