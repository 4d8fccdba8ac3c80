"""A reservation's dates and identity are kept sound by the form and by the database."""

import datetime
import zoneinfo

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from reservations import services
from reservations.models import Reservation
from tests.factories import ListingFactory, ReservationFactory
from tests.reservations.admin_pages import change_url, form_data

pytestmark = pytest.mark.django_db


def reservation_post(listing, **changes):
    data = {
        "listing": listing.pk,
        "guest_name": "Maria Silva",
        "guest_email": "maria@example.com",
        "check_in_0": "2026-12-10",
        "check_in_1": "15:00",
        "check_out_0": "2026-12-13",
        "check_out_1": "11:00",
        "status": "pending",
        "source": "phone",
        "external_id": "",
    }
    data.update(changes)
    return data


def test_check_out_before_check_in_is_refused_by_the_form(staff_client, org_a):
    response = staff_client.post(
        reverse("admin:reservations_reservation_add"),
        reservation_post(org_a.listing, check_out_0="2026-12-09"),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["check_out"] == ["Check-out must be after check-in."]
    assert not errors.get("__all__")
    assert not Reservation.objects.filter(guest_name="Maria Silva").exists()


def test_check_out_before_check_in_is_refused_by_the_database(org_a):
    check_in = datetime.datetime(2026, 12, 10, 15, tzinfo=datetime.UTC)
    with pytest.raises(IntegrityError), transaction.atomic():
        Reservation.objects.create(
            listing=org_a.listing,
            guest_name="Backwards",
            check_in=check_in,
            check_out=check_in - datetime.timedelta(hours=1),
        )


def test_times_are_entered_in_the_propertys_time_zone(staff_client, db):
    from tests.conftest import make_org

    org = make_org("Zulu")
    org.property.time_zone = "America/New_York"
    org.property.save()
    staff_client.force_login(org.staff)
    response = staff_client.post(
        reverse("admin:reservations_reservation_add"), reservation_post(org.listing)
    )
    assert response.status_code == 302
    reservation = Reservation.objects.get(guest_name="Maria Silva")
    new_york = zoneinfo.ZoneInfo("America/New_York")
    assert reservation.check_in == datetime.datetime(2026, 12, 10, 15, tzinfo=new_york)
    assert reservation.check_out == datetime.datetime(2026, 12, 13, 11, tzinfo=new_york)
    # And the change page shows them back as local times.
    page = staff_client.get(
        reverse("admin:reservations_reservation_change", args=[reservation.pk])
    ).content.decode()
    assert 'value="15:00:00"' in page and 'value="2026-12-10"' in page


def test_a_stay_across_a_daylight_saving_change_keeps_local_times(staff_client, org_a):
    # Lisbon moves its clocks back on 2026-10-25: the stay is one hour longer than 3 days.
    response = staff_client.post(
        reverse("admin:reservations_reservation_add"),
        reservation_post(
            org_a.listing, check_in_0="2026-10-23", check_out_0="2026-10-26", check_out_1="15:00"
        ),
    )
    assert response.status_code == 302
    reservation = Reservation.objects.get(guest_name="Maria Silva")
    assert reservation.check_in.astimezone(datetime.UTC).hour == 14  # 15:00 WEST (UTC+1)
    assert reservation.check_out.astimezone(datetime.UTC).hour == 15  # 15:00 WET (UTC+0)
    assert reservation.check_out - reservation.check_in == datetime.timedelta(days=3, hours=1)


def test_a_time_skipped_by_the_clocks_is_refused(staff_client, org_a):
    # Lisbon skips 01:00–02:00 on 2027-03-28.
    response = staff_client.post(
        reverse("admin:reservations_reservation_add"),
        reservation_post(
            org_a.listing, check_in_0="2027-03-28", check_in_1="01:30", check_out_0="2027-03-30"
        ),
    )
    assert response.status_code == 200
    assert "does not exist in Europe/Lisbon" in str(response.context["adminform"].form.errors)


def test_external_id_is_unique_per_listing_only(org_a):
    ReservationFactory(listing=org_a.listing, external_id="AIRBNB-1")
    ReservationFactory(listing=ListingFactory(property=org_a.property), external_id="AIRBNB-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        ReservationFactory(listing=org_a.listing, external_id="AIRBNB-1")


def test_duplicate_external_id_gets_a_form_error(staff_client, org_a):
    ReservationFactory(listing=org_a.listing, external_id="BK-77")
    response = staff_client.post(
        reverse("admin:reservations_reservation_add"),
        reservation_post(org_a.listing, external_id="BK-77"),
    )
    assert response.status_code == 200
    assert "already has a reservation with this external id" in str(
        response.context["adminform"].form.errors
    )


def test_reservation_list_shows_local_times(manager_client, org_a):
    lisbon = zoneinfo.ZoneInfo("Europe/Lisbon")
    ReservationFactory(
        listing=org_a.listing,
        guest_name="Local Timer",
        check_in=datetime.datetime(2026, 7, 1, 15, tzinfo=lisbon),
        check_out=datetime.datetime(2026, 7, 4, 11, tzinfo=lisbon),
    )
    page = manager_client.get(reverse("admin:reservations_reservation_changelist")).content
    assert b"2026-07-01 15:00 WEST" in page


def test_an_ended_stay_cannot_be_confirmed_again_from_any_surface(wired, staff_client):
    """The API always refused it; the admin and the services now refuse it too."""
    reservation = wired.book(days_ahead=0)
    services.reservation_end_stay(reservation=reservation)
    with pytest.raises(ValidationError, match="has ended"):
        services.reservation_update(reservation=reservation, status=Reservation.Status.CONFIRMED)
    reservation.refresh_from_db()
    response = staff_client.post(
        change_url(reservation), form_data(reservation, status=Reservation.Status.CONFIRMED)
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["status"] == [
        "This stay has ended; its status cannot change."
    ]
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CHECKED_OUT


def test_staff_cannot_set_checked_out_by_hand_in_the_admin(wired, staff_client):
    reservation = wired.book()
    response = staff_client.post(
        change_url(reservation), form_data(reservation, status=Reservation.Status.CHECKED_OUT)
    )
    assert response.status_code == 200
    assert "by ending it" in response.context["adminform"].form.errors["status"][0]
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CONFIRMED and reservation.ended_at is None


def test_a_cancelled_booking_can_be_reinstated_by_the_pms(wired):
    reservation = wired.book()
    services.reservation_cancel(reservation=reservation)
    services.reservation_confirm(reservation=reservation)
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CONFIRMED
