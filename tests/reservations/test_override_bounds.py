"""Overrides are bounded: never a month around a one-night stay, never into the next guest's
stay on that lock, never a lead time of years, and never a 500 for a number or a date out
of range; the admin and the API refuse the same (reservations.services.override_problems).
"""

import datetime
import importlib
import logging

import pytest
from django.apps import apps
from django.utils import timezone

from core.timezones import format_instant
from locks.models import LockAssignment
from reservations import services
from reservations.models import AccessOverride, LockAccess, Reservation
from tests.api.conftest import key_client

from .test_reservation_page import change_url, form_data

pytestmark = pytest.mark.django_db

OVERRIDES = "/api/v1/overrides/"
DAY = datetime.timedelta(days=1)
HOUR = datetime.timedelta(hours=1)


def gate_assignment(wired) -> LockAssignment:
    return LockAssignment.objects.get(listing=wired.listing, device=wired.gate)


def book_next(wired, stay, *, gap=datetime.timedelta(0), nights=2, **fields):
    """The next guest: checks in on the day `stay` checks out (same-day turnover)."""
    zone = wired.listing.property.zone
    day = timezone.localtime(stay.check_out, zone).date() + gap
    return services.reservation_create(
        listing=wired.listing,
        guest_name="Next Guest",
        check_in=wired.listing.local_check_in(day),
        check_out=wired.listing.local_check_out(day + datetime.timedelta(days=nights)),
        status=fields.pop("status", Reservation.Status.CONFIRMED),
        **fields,
    )


def api_post(wired, org_a, **fields):
    return key_client(org_a.organization, "manager").post(
        OVERRIDES,
        {"assignment": gate_assignment(wired).pk, **fields},
    )


def admin_post(client, wired, reservation, **fields):
    data = form_data(
        reservation,
        **{
            "overrides-TOTAL_FORMS": "1",
            "overrides-0-assignment": gate_assignment(wired).pk,
            **{f"overrides-0-{name}": value for name, value in fields.items()},
        },
    )
    return client.post(change_url(reservation), data)


def admin_errors(response) -> dict:
    assert response.status_code == 200, response.status_code
    formset = response.context["inline_admin_formsets"][1].formset
    return formset.errors[0]


def local_parts(value, zone) -> tuple[str, str]:
    local = timezone.localtime(value, zone)
    return local.strftime("%Y-%m-%d"), local.strftime("%H:%M")


# --- refused on both surfaces ---------------------------------------------------------------


def test_a_month_around_a_one_night_stay_is_refused_by_the_api(wired, org_a):
    stay = wired.book(nights=1)
    response = api_post(
        wired,
        org_a,
        reservation=stay.pk,
        starts_at=(stay.check_in - 15 * DAY).isoformat(),
        ends_at=(stay.check_out + 15 * DAY).isoformat(),
    )
    assert response.status_code == 400
    body = response.json()
    assert "Opens too early" in body["starts_at"][0]
    assert "Closes too late" in body["ends_at"][0]
    assert not AccessOverride.objects.exists()


def test_a_month_around_a_one_night_stay_is_refused_by_the_admin(wired, staff_client):
    stay = wired.book(nights=1)
    zone = wired.listing.property.zone
    starts, ends = stay.check_in - 15 * DAY, stay.check_out + 15 * DAY
    fields = {}
    for name, value in (("starts_at", starts), ("ends_at", ends)):
        fields[f"{name}_0"], fields[f"{name}_1"] = local_parts(value, zone)
    errors = admin_errors(admin_post(staff_client, wired, stay, **fields))
    assert "Opens too early" in errors["starts_at"][0]
    assert "Closes too late" in errors["ends_at"][0]
    assert not AccessOverride.objects.exists()


def test_an_override_never_reaches_into_the_next_guests_stay(wired, org_a):
    stay = wired.book(nights=1)
    following = book_next(wired, stay)
    into_next = api_post(
        wired, org_a, reservation=stay.pk, ends_at=(following.check_in + HOUR).isoformat()
    )
    assert into_next.status_code == 400 and "Closes too late" in into_next.json()["ends_at"][0]
    # Up to the next check-in is fine (buffered windows of a turnover may touch).
    up_to = api_post(wired, org_a, reservation=stay.pk, ends_at=following.check_in.isoformat())
    assert up_to.status_code == 201, up_to.json()


def test_a_listing_sets_its_own_bound(wired, org_a):
    wired.listing.override_max_extension_minutes = 60
    wired.listing.save()
    stay = wired.book(nights=1)
    two_hours = api_post(
        wired, org_a, reservation=stay.pk, starts_at=(stay.check_in - 2 * HOUR).isoformat()
    )
    assert two_hours.status_code == 400
    assert "at most 1 hour before" in two_hours.json()["starts_at"][0]
    one_hour = api_post(
        wired, org_a, reservation=stay.pk, starts_at=(stay.check_in - HOUR).isoformat()
    )
    assert one_hour.status_code == 201, one_hour.json()


@pytest.mark.parametrize("minutes", [999_999, 2**31, 2**63, -1])
def test_a_lead_time_out_of_range_is_a_field_error_in_the_api(wired, org_a, minutes):
    stay = wired.book()
    response = api_post(wired, org_a, reservation=stay.pk, lead_time_minutes=minutes)
    assert response.status_code == 400
    assert list(response.json()) == ["lead_time_minutes"]


@pytest.mark.parametrize("minutes", [999_999, 2**31, 2**63, -1])
def test_a_lead_time_out_of_range_is_a_field_error_in_the_admin(wired, staff_client, minutes):
    stay = wired.book()
    errors = admin_errors(admin_post(staff_client, wired, stay, lead_time_minutes=str(minutes)))
    assert "lead_time_minutes" in errors
    assert not AccessOverride.objects.exists()


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1999-12-31"])
def test_a_date_out_of_range_is_a_field_error_in_both(wired, org_a, staff_client, day):
    stay = wired.book()
    api = api_post(wired, org_a, reservation=stay.pk, starts_at=f"{day}T23:30:00+00:00")
    assert api.status_code == 400 and list(api.json()) == ["starts_at"]
    admin = admin_errors(
        admin_post(staff_client, wired, stay, starts_at_0=day, starts_at_1="23:30")
    )
    assert "between the years" in admin["starts_at"][0]
    assert not AccessOverride.objects.exists()


def test_the_service_refuses_out_of_range_values_before_computing_with_them(wired):
    stay = wired.book()
    problems = services.override_problems(
        reservation=stay,
        assignment=gate_assignment(wired),
        code="483921",
        lead_time_minutes=2**40,
        starts_at=datetime.datetime(1, 1, 1, tzinfo=datetime.UTC),
        ends_at=datetime.datetime(9999, 12, 31, tzinfo=datetime.UTC),
    )
    assert set(problems) == {"lead_time_minutes", "starts_at", "ends_at"}


# --- a later booking trims an override ------------------------------------------------------


def test_a_stay_booked_later_into_an_overrides_window_trims_it(wired, org_a, caplog):
    stay = wired.book(nights=1)
    late = stay.check_out + 20 * HOUR  # within 24 h; the next day is free when it is set
    created = api_post(wired, org_a, reservation=stay.pk, ends_at=late.isoformat())
    assert created.status_code == 201, created.json()
    gate = LockAccess.objects.get(reservation=stay, device=wired.gate)
    assert gate.ends_at == late

    with caplog.at_level(logging.INFO, logger="reservations.services"):
        following = book_next(wired, stay)

    override = AccessOverride.objects.get()
    assert override.ends_at == following.check_in
    assert override.trimmed_at is not None and "Trimmed" in override.trim_note
    assert any("Trimmed" in r.getMessage() for r in caplog.records)
    # The note is in the property's time, its zone named, and reads as a sentence.
    zone = stay.listing.property.zone
    start = format_instant(following.check_in, zone)
    assert override.trim_note == (
        f"Trimmed from the stay's start – {format_instant(late, zone)} "
        f"to the stay's start – {start}: beyond its bound or into another stay."
    )
    assert "UTC" not in override.trim_note and "stay's –" not in override.trim_note
    gate.refresh_from_db()
    assert gate.ends_at == following.check_in  # the lock follows at once
    side = LockAccess.objects.get(reservation=stay, device=wired.side)
    assert side.ends_at == stay.check_out  # the other lock had no override


def test_a_stay_confirmed_or_moved_later_into_the_window_trims_it(wired, org_a):
    stay = wired.book(nights=1)
    late = stay.check_out + 20 * HOUR
    assert api_post(wired, org_a, reservation=stay.pk, ends_at=late.isoformat()).status_code == 201
    # Pending, and then a week later: no trim.
    following = book_next(wired, stay, gap=7 * DAY, status=Reservation.Status.PENDING)
    services.reservation_confirm(reservation=following)
    assert AccessOverride.objects.get().ends_at == late
    # Moved into the override's window: trimmed to its check-in.
    services.reservation_update(
        reservation=following,
        check_in=following.check_in - 7 * DAY,
        check_out=following.check_out - 7 * DAY,
    )
    following.refresh_from_db()
    assert AccessOverride.objects.get().ends_at == following.check_in
    assert LockAccess.objects.get(reservation=stay, device=wired.gate).ends_at == (
        following.check_in
    )


def test_the_data_migration_trims_overrides_set_before_the_bounds(wired):
    stay = wired.book(nights=1)
    following = book_next(wired, stay)
    # As stored before the bounds: a month around the stay, a lead time of years.
    override = AccessOverride.objects.create(
        reservation=stay,
        assignment=gate_assignment(wired),
        starts_at=stay.check_in - 15 * DAY,
        ends_at=stay.check_out + 15 * DAY,
        lead_time_minutes=999_999,
    )
    untouched = AccessOverride.objects.create(
        reservation=following,
        assignment=LockAssignment.objects.get(listing=wired.listing, device=wired.side),
        starts_at=following.check_in - HOUR,
    )
    migration = importlib.import_module(
        "reservations.migrations.0006_trim_overrides_out_of_bounds"
    )
    migration.trim_overrides(apps, None)

    override.refresh_from_db()
    assert override.starts_at == stay.check_in - DAY
    assert override.ends_at == following.check_in
    assert override.lead_time_minutes == 7 * 24 * 60
    assert override.trimmed_at is not None
    gate = LockAccess.objects.get(reservation=stay, device=wired.gate)
    assert (gate.starts_at, gate.ends_at) == (override.starts_at, override.ends_at)
    assert gate.due_at is not None
    untouched.refresh_from_db()
    assert untouched.trimmed_at is None


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_a_stay_dated_out_of_range_is_a_field_error_in_the_admin(org_a, staff_client, day):
    stay = org_a.reservation
    response = staff_client.post(change_url(stay), form_data(stay, check_in_0=day))
    assert response.status_code == 200
    assert "between the years" in response.context["adminform"].form.errors["check_in"][0]
