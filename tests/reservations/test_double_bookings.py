"""Overlapping confirmed stays at one listing are accepted, never silently: the admin asks
first, the API answers a warning, the dashboard lists them."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from reservations.models import Reservation
from tests.reservations.test_reservation_rules import reservation_post

pytestmark = pytest.mark.django_db


def _overlapping_post(org, **changes):
    """The factory's stay arrives in two days for three nights: this one overlaps it."""
    zone = org.property.zone
    stay = org.reservation
    check_in = timezone.localtime(stay.check_in + datetime.timedelta(days=1), zone)
    check_out = check_in + datetime.timedelta(days=3)
    changes.setdefault("status", "confirmed")
    return reservation_post(
        org.listing,
        check_in_0=check_in.strftime("%Y-%m-%d"),
        check_in_1="15:00",
        check_out_0=check_out.strftime("%Y-%m-%d"),
        check_out_1="11:00",
        **changes,
    )


def test_the_admin_asks_before_saving_a_double_booking(staff_client, org_a):
    add = reverse("admin:reservations_reservation_add")
    response = staff_client.post(add, _overlapping_post(org_a))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "overlaps another confirmed stay" in errors["accept_double_booking"][0]
    assert "Alpha Guest" in errors["accept_double_booking"][0]
    assert not Reservation.objects.filter(guest_name="Maria Silva").exists()
    response = staff_client.post(
        add, _overlapping_post(org_a, accept_double_booking="on"), follow=True
    )
    assert Reservation.objects.get(guest_name="Maria Silva").status == "confirmed"
    shown = [str(m) for m in response.context["messages"]]
    assert any("Double booking: overlaps Alpha Guest" in m for m in shown)


def test_the_double_booking_message_gives_times_in_the_propertys_zone_named(staff_client, org_a):
    org_a.property.time_zone = "America/New_York"
    org_a.property.save()
    response = staff_client.post(
        reverse("admin:reservations_reservation_add"),
        _overlapping_post(org_a, accept_double_booking="on"),
        follow=True,
    )
    stay = org_a.reservation
    zone = org_a.property.zone
    (shown,) = [str(m) for m in response.context["messages"] if "Double booking" in str(m)]
    local_in = timezone.localtime(stay.check_in, zone)
    local_out = timezone.localtime(stay.check_out, zone)
    assert (
        f"{local_in:%Y-%m-%d %H:%M} {local_in.tzname()} → "
        f"{local_out:%Y-%m-%d %H:%M} {local_out.tzname()}"
    ) in shown
    assert local_in.tzname() in ("EST", "EDT")


def test_a_pending_stay_on_the_same_days_is_no_double_booking(staff_client, org_a):
    response = staff_client.post(
        reverse("admin:reservations_reservation_add"),
        _overlapping_post(org_a, status="pending"),
    )
    assert response.status_code == 302


def test_the_api_answers_a_warning_with_the_double_booking(client, org_a):
    client.force_login(org_a.manager)
    stay = org_a.reservation
    response = client.post(
        "/api/v1/reservations/",
        {
            "listing": org_a.listing.pk,
            "guest_name": "Second Guest",
            "check_in": (stay.check_in + datetime.timedelta(hours=2)).isoformat(),
            "check_out": (stay.check_out + datetime.timedelta(days=1)).isoformat(),
            "status": "confirmed",
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()
    (warning,) = response.json()["warnings"]
    assert "Alpha Guest" in warning and f"reservation {stay.pk}" in warning
    clean = client.get(f"/api/v1/reservations/{stay.pk}/").json()
    assert len(clean["warnings"]) == 1


def test_the_dashboard_lists_double_bookings_of_the_persons_organizations_only(
    client, org_a, org_b
):
    for org in (org_a, org_b):
        stay = org.reservation
        Reservation.objects.create(
            listing=org.listing,
            guest_name=f"{org.organization.name} Twin",
            check_in=stay.check_in,
            check_out=stay.check_out,
            status="confirmed",
        )
    client.force_login(org_a.manager)
    page = client.get(reverse("dashboard")).content.decode()
    assert "Double bookings (1)" in page
    assert "Alpha Twin" in page and "Bravo Twin" not in page
