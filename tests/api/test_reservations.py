"""Reservations through the API: what a PMS sends, and the code that comes back."""

import datetime
import zoneinfo

import pytest
from django.utils import timezone

from api.serializers import ReservationSerializer
from reservations import services
from reservations.models import LockAccess, Reservation, ReservationCode
from tests.factories import ListingFactory, ReservationFactory
from tests.fixtures_lifecycle import run_at

pytestmark = pytest.mark.django_db

RESERVATIONS = "/api/v1/reservations/"
LISBON = zoneinfo.ZoneInfo("Europe/Lisbon")
State = LockAccess.State


def detail(reservation, action: str = "") -> str:
    pk = reservation if isinstance(reservation, int) else reservation.pk
    return f"{RESERVATIONS}{pk}/" + (f"{action}/" if action else "")


def upsert_url(external_id: str) -> str:
    return f"{RESERVATIONS}by-external-id/{external_id}/"


def future_day(days: int = 10) -> datetime.date:
    return timezone.localdate(timezone=LISBON) + datetime.timedelta(days=days)


def booking(listing, /, **fields) -> dict:
    day = future_day()
    return {
        "listing": listing.pk,
        "guest_name": "Maria Silva",
        "guest_email": "maria@example.com",
        "guest_phone": "+351 912 345 678",
        "check_in": day.isoformat(),
        "check_out": (day + datetime.timedelta(days=3)).isoformat(),
        "status": "confirmed",
        "external_id": "BK-1",
        **fields,
    }


# Creating --------------------------------------------------------------------------------


def test_a_confirmed_reservation_comes_back_with_its_code_and_every_guest_lock(manager_api, wired):
    response = manager_api.post(RESERVATIONS, booking(wired.listing))
    assert response.status_code == 201, response.json()
    body = response.json()
    reservation = Reservation.objects.get(pk=body["id"])
    assert body["status"] == "confirmed" and body["source"] == "api"
    assert body["code"] == reservation.code.value and len(body["code"]) == 6
    assert body["code_state"] == "planned" and body["sent_at"] is None
    locks = {lock["device"]: lock for lock in body["locks"]}
    assert set(locks) == {wired.gate.pk, wired.side.pk}  # not the door without guest access
    gate = locks[wired.gate.pk]
    assert set(gate) == {
        "device",
        "door",
        "state",
        "starts_at",
        "ends_at",
        "provider_id",
        "last_error",
        "code",
        "own_code",
    }
    assert gate["state"] == "planned" and gate["provider_id"] == ""
    assert gate["door"] == "Garden Gate"  # no label given: the lock's own name
    assert gate["code"] == reservation.code.value and gate["own_code"] is False


def test_dates_alone_take_the_listings_local_check_in_and_check_out_times(manager_api, wired):
    day = future_day()
    response = manager_api.post(RESERVATIONS, booking(wired.listing))
    reservation = Reservation.objects.get(pk=response.json()["id"])
    assert reservation.check_in == datetime.datetime.combine(day, datetime.time(15), LISBON)
    assert reservation.check_out == datetime.datetime.combine(
        day + datetime.timedelta(days=3), datetime.time(11), LISBON
    )


def test_instants_are_taken_as_sent_and_without_offset_as_local_time(manager_api, org_a):
    response = manager_api.post(
        RESERVATIONS,
        booking(
            org_a.listing,
            check_in="2030-07-01T16:30:00+02:00",
            check_out="2030-07-04T10:00:00",  # local to the property (Lisbon, UTC+1)
        ),
    )
    assert response.status_code == 201, response.json()
    assert response.json()["check_in"] == "2030-07-01T14:30:00Z"
    assert response.json()["check_out"] == "2030-07-04T09:00:00Z"


def test_a_local_time_the_clocks_skip_is_an_error(manager_api, org_a):
    response = manager_api.post(
        RESERVATIONS,
        booking(org_a.listing, check_in="2030-03-31T01:30:00", check_out="2030-04-02"),
    )
    assert response.status_code == 400
    assert "does not exist" in response.json()["check_in"][0]


def test_the_listing_can_be_named_by_its_external_id(manager_api, wired):
    data = booking(wired.listing, listing_external_id=wired.listing.external_id)
    del data["listing"]
    response = manager_api.post(RESERVATIONS, data)
    assert response.status_code == 201, response.json()
    assert response.json()["listing"] == wired.listing.pk
    assert response.json()["listing_external_id"] == wired.listing.external_id


def test_a_pending_reservation_has_no_code_until_confirmed(manager_api, wired):
    response = manager_api.post(RESERVATIONS, booking(wired.listing, status="pending"))
    body = response.json()
    assert body["code"] is None and body["code_state"] == "none" and body["locks"] == []
    confirmed = manager_api.post(detail(body["id"], "confirm")).json()
    assert confirmed["status"] == "confirmed" and confirmed["code"]
    assert len(confirmed["locks"]) == 2


@pytest.mark.parametrize(
    "change, field",
    [
        ({"check_in": "next tuesday"}, "check_in"),
        ({"check_in": "2030-02-30"}, "check_in"),
        ({"check_out": 20300101}, "check_out"),
        ({"check_in": "1999-12-31T10:00:00Z"}, "check_in"),
        ({"check_out": "9999-01-01"}, "check_out"),
        ({"status": "checked_out"}, "status"),
        ({"status": "maybe"}, "status"),
        ({"guest_name": ""}, "guest_name"),
        ({"guest_name": "Maria\r\nBcc: someone@example.com"}, "guest_name"),
        ({"guest_name": "Maria\tSilva"}, "guest_name"),
        ({"guest_email": "not-an-email"}, "guest_email"),
        ({"listing": 999999}, "listing"),
        ({"listing": None}, "listing"),
        ({"external_id": "x" * 101}, "external_id"),
    ],
)
def test_invalid_input_is_a_400_naming_the_field_and_writes_nothing(
    manager_api, org_a, change, field
):
    before = Reservation.objects.count()
    response = manager_api.post(RESERVATIONS, booking(org_a.listing, **change))
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert Reservation.objects.count() == before


def test_check_out_before_check_in_is_a_check_out_error(manager_api, org_a):
    day = future_day()
    for check_out in (day.isoformat(), (day - datetime.timedelta(days=1)).isoformat()):
        response = manager_api.post(
            RESERVATIONS, booking(org_a.listing, check_in=day.isoformat(), check_out=check_out)
        )
        assert response.status_code == 400
        assert response.json() == {"check_out": ["Check-out must be after check-in."]}


def test_an_unknown_listing_external_id_is_an_error(manager_api, org_a, org_b):
    for external_id in ("NOPE", org_b.listing.external_id):
        data = booking(org_a.listing, listing_external_id=external_id)
        del data["listing"]
        response = manager_api.post(RESERVATIONS, data)
        assert response.status_code == 400
        assert "listing_external_id" in response.json()
    missing = booking(org_a.listing)
    del missing["listing"]
    assert "listing" in manager_api.post(RESERVATIONS, missing).json()


def test_a_listing_of_another_organization_is_refused_like_an_unknown_one(manager_api, org_b):
    response = manager_api.post(RESERVATIONS, booking(org_b.listing))
    assert response.status_code == 400
    assert "does not exist" in response.json()["listing"][0]
    assert not Reservation.objects.filter(guest_name="Maria Silva").exists()


def test_the_same_external_id_twice_at_a_listing_points_to_the_upsert(manager_api, org_a):
    assert manager_api.post(RESERVATIONS, booking(org_a.listing)).status_code == 201
    response = manager_api.post(RESERVATIONS, booking(org_a.listing))
    assert response.status_code == 400 and "by-external-id" in response.json()["external_id"][0]


def test_odd_but_valid_offsets_are_stored_in_utc(manager_api, org_a):
    response = manager_api.post(
        RESERVATIONS,
        booking(
            org_a.listing, check_in="2030-07-01T15:00:00+16:46", check_out="2030-07-04T11:00Z"
        ),
    )
    assert response.status_code == 201, response.json()
    assert response.json()["check_in"] == "2030-06-30T22:14:00Z"


# Changing --------------------------------------------------------------------------------


def test_changing_the_dates_moves_every_locks_window(manager_api, wired):
    created = manager_api.post(RESERVATIONS, booking(wired.listing)).json()
    new_out = future_day(15)
    response = manager_api.patch(detail(created["id"]), {"check_out": new_out.isoformat()})
    assert response.status_code == 200, response.json()
    body = response.json()
    expected = datetime.datetime.combine(new_out, datetime.time(11), LISBON)
    assert body["check_out"] == expected.astimezone(datetime.UTC).isoformat().replace(
        "+00:00", "Z"
    )
    for lock in body["locks"]:
        assert lock["ends_at"] == body["check_out"]
    assert body["code"] == created["code"]


def test_a_patch_that_puts_check_out_before_check_in_changes_nothing(manager_api, org_a):
    reservation = org_a.reservation
    response = manager_api.patch(
        detail(reservation),
        {"check_out": (reservation.check_in - datetime.timedelta(hours=1)).isoformat()},
    )
    assert response.status_code == 400 and "check_out" in response.json()
    assert Reservation.objects.get(pk=reservation.pk).check_out == reservation.check_out


def test_put_replaces_the_booking(manager_api, org_a):
    data = booking(org_a.listing, guest_name="João Sousa", status="pending")
    response = manager_api.put(detail(org_a.reservation), data)
    assert response.status_code == 200, response.json()
    reservation = Reservation.objects.get(pk=org_a.reservation.pk)
    assert reservation.guest_name == "João Sousa" and reservation.status == "pending"


def test_cancelling_revokes_the_code_on_every_lock_at_once(manager_api, wired):
    created = manager_api.post(RESERVATIONS, booking(wired.listing)).json()
    response = manager_api.post(detail(created["id"], "cancel"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancelled" and body["code_state"] == "revoked"
    assert {lock["state"] for lock in body["locks"]} == {"revoked"}
    again = manager_api.post(detail(created["id"], "cancel"))
    assert again.status_code == 200 and again.json()["status"] == "cancelled"


def test_a_status_change_by_patch_cancels_too(manager_api, wired):
    created = manager_api.post(RESERVATIONS, booking(wired.listing)).json()
    body = manager_api.patch(detail(created["id"]), {"status": "cancelled"}).json()
    assert body["status"] == "cancelled"
    assert Reservation.objects.get(pk=created["id"]).cancelled_at is not None


def test_ending_a_stay_takes_the_code_off_every_lock(manager_api, wired):
    created = manager_api.post(
        RESERVATIONS,
        booking(
            wired.listing,
            check_in=timezone.now().isoformat(),
            check_out=(timezone.now() + datetime.timedelta(days=2)).isoformat(),
        ),
    ).json()
    run_at(timezone.now())  # the code is put on the locks
    assert manager_api.get(detail(created["id"])).json()["code_state"] == "requested"
    wired.lock_reports_set()  # ...and the locks say they hold it
    on_lock = manager_api.get(detail(created["id"])).json()
    assert on_lock["code_state"] == "active"
    devices = {wired.gate.pk: wired.gate, wired.side.pk: wired.side}
    for lock in on_lock["locks"]:
        (on_the_lock,) = wired.codes_on(devices[lock["device"]])
        assert lock["provider_id"] == on_the_lock.access_code_id and lock["state"] == "active"
    response = manager_api.post(detail(created["id"], "end-stay"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "checked_out" and body["ended_at"]
    accesses = LockAccess.objects.filter(reservation_id=created["id"])
    assert not any(a.wanted for a in accesses)
    changed = manager_api.patch(detail(created["id"]), {"status": "confirmed"})
    assert changed.status_code == 400 and "status" in changed.json()


def test_only_a_confirmed_stay_can_end(manager_api, org_a):
    pending = ReservationFactory(listing=org_a.listing, status=Reservation.Status.PENDING)
    response = manager_api.post(detail(pending, "end-stay"))
    assert response.status_code == 400 and "status" in response.json()


def test_a_code_sent_to_the_guest_shows_when(manager_api, wired):
    reservation = wired.book()
    services.code_mark_sent(reservation=reservation)
    body = manager_api.get(detail(reservation)).json()
    assert body["sent_at"] == ReservationCode.objects.get(
        reservation=reservation
    ).sent_at.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


# The upsert ------------------------------------------------------------------------------


def test_the_same_booking_sent_twice_is_one_reservation_with_one_code(manager_api, wired):
    data = booking(wired.listing)
    del data["external_id"]
    first = manager_api.put(upsert_url("AIRBNB-42"), data)
    assert first.status_code == 201, first.json()
    second = manager_api.put(upsert_url("AIRBNB-42"), data)
    assert second.status_code == 200, second.json()
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["code"] == second.json()["code"]
    assert Reservation.objects.filter(external_id="AIRBNB-42").count() == 1
    assert ReservationCode.objects.filter(reservation_id=first.json()["id"]).count() == 1


def test_the_upsert_changes_what_was_sent_and_keeps_the_rest(manager_api, wired):
    manager_api.put(upsert_url("AIRBNB-43"), booking(wired.listing))
    response = manager_api.put(
        upsert_url("AIRBNB-43"),
        {
            "listing_external_id": wired.listing.external_id,
            "check_out": future_day(20).isoformat(),
        },
    )
    assert response.status_code == 200, response.json()
    reservation = Reservation.objects.get(external_id="AIRBNB-43")
    assert reservation.guest_name == "Maria Silva"
    assert reservation.check_out.date() == future_day(20)
    cancelled = manager_api.put(
        upsert_url("AIRBNB-43"), {"listing": wired.listing.pk, "status": "cancelled"}
    )
    assert cancelled.json()["status"] == "cancelled"
    assert Reservation.objects.filter(external_id="AIRBNB-43").count() == 1


def test_the_upsert_needs_the_listing_and_a_valid_booking(manager_api, org_a, org_b):
    data = booking(org_a.listing)
    del data["listing"]
    assert "listing" in manager_api.put(upsert_url("X-1"), data).json()
    theirs = manager_api.put(upsert_url("X-1"), booking(org_b.listing))
    assert theirs.status_code == 400 and "listing" in theirs.json()
    bad = manager_api.put(upsert_url("X-1"), booking(org_a.listing, check_out="yesterday"))
    assert bad.status_code == 400 and "check_out" in bad.json()
    assert manager_api.put(upsert_url("x" * 101), booking(org_a.listing)).status_code == 400
    assert manager_api.put(upsert_url("X-1"), [1, 2]).status_code == 400
    assert not Reservation.objects.filter(external_id__in=["X-1", "x" * 101]).exists()


def test_the_same_external_id_at_two_listings_is_two_reservations(manager_api, org_a):
    other = ListingFactory(property=org_a.property)
    manager_api.put(upsert_url("SHARED"), booking(org_a.listing))
    manager_api.put(upsert_url("SHARED"), booking(other))
    assert Reservation.objects.filter(external_id="SHARED").count() == 2


# Who sees what ----------------------------------------------------------------------------


def test_another_organizations_reservation_is_404_for_every_method(manager_api, org_b):
    reservation = org_b.reservation
    assert manager_api.get(detail(reservation)).status_code == 404
    assert manager_api.patch(detail(reservation), {"guest_name": "X"}).status_code == 404
    for action in ("cancel", "confirm", "end-stay"):
        assert manager_api.post(detail(reservation, action)).status_code == 404
    assert manager_api.put(upsert_url(reservation.external_id), {}).status_code == 400
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CONFIRMED and reservation.guest_name != "X"
    listed = manager_api.get(RESERVATIONS).json()["results"]
    assert reservation.pk not in {row["id"] for row in listed}


def test_staff_create_change_and_cancel_reservations_and_see_the_code(staff_api, wired):
    created = staff_api.post(RESERVATIONS, booking(wired.listing))
    assert created.status_code == 201 and created.json()["code"]
    pk = created.json()["id"]
    assert staff_api.patch(detail(pk), {"guest_phone": "+351 900 000 000"}).status_code == 200
    assert staff_api.post(detail(pk, "cancel")).status_code == 200


def test_reservations_filter_by_status_listing_and_dates(manager_api, org_a):
    pending = ReservationFactory(listing=org_a.listing, status=Reservation.Status.PENDING)
    rows = manager_api.get(RESERVATIONS, {"status": "pending"}).json()["results"]
    assert [row["id"] for row in rows] == [pending.pk]
    by_pms_id = manager_api.get(
        RESERVATIONS, {"listing_external_id": org_a.listing.external_id}
    ).json()
    assert by_pms_id["count"] == 2
    later = (pending.check_in + datetime.timedelta(days=365)).isoformat()
    assert manager_api.get(RESERVATIONS, {"check_in_after": later}).json()["count"] == 0
    bad = manager_api.get(RESERVATIONS, {"check_in_after": "soon"})
    assert bad.status_code == 400 and "check_in_after" in bad.json()


def test_a_booking_created_by_a_concurrent_delivery_is_updated_not_duplicated(
    manager_api, org_a, monkeypatch
):
    validate = ReservationSerializer.validate
    raced = []

    def validate_while_another_delivery_lands(self, attrs):
        attrs = validate(self, attrs)
        if not raced:  # between this request's lookup and its write, the other one commits
            raced.append(
                services.reservation_create(
                    listing=org_a.listing,
                    guest_name="Maria Silva",
                    check_in=attrs["check_in"],
                    check_out=attrs["check_out"],
                    external_id="RACE-1",
                    status=Reservation.Status.PENDING,
                )
            )
        return attrs

    monkeypatch.setattr(ReservationSerializer, "validate", validate_while_another_delivery_lands)
    response = manager_api.put(upsert_url("RACE-1"), booking(org_a.listing))
    assert response.status_code == 200, response.json()
    assert response.json()["id"] == raced[0].pk and response.json()["status"] == "confirmed"
    assert Reservation.objects.filter(external_id="RACE-1").count() == 1


def test_codes_are_masked_in_lists_and_shown_on_the_reservation(staff_api, org_a):
    from reservations.services import reservation_confirm

    reservation = org_a.reservation
    reservation.status = "pending"
    reservation.save()
    reservation_confirm(reservation=reservation)
    code = reservation.code.value
    listed = staff_api.get("/api/v1/reservations/").json()["results"]
    assert [r["code"] for r in listed] == ["••••"]
    assert code not in str(listed)
    assert staff_api.get(f"/api/v1/reservations/{reservation.pk}/").json()["code"] == code
