"""Per-lock overrides of a stay, and the activity feed, through the API."""

import datetime

import pytest
from django.utils import timezone

from locks.models import LockAssignment
from reservations.models import AccessOverride, LockAccess, LockEvent

pytestmark = pytest.mark.django_db

OVERRIDES = "/api/v1/overrides/"
EVENTS = "/api/v1/events/"


def gate_assignment(wired) -> LockAssignment:
    return LockAssignment.objects.get(listing=wired.listing, device=wired.gate)


def test_an_override_sets_one_locks_own_code_and_that_lock_alone_follows(manager_api, wired):
    reservation = wired.book()
    assignment = gate_assignment(wired)
    response = manager_api.post(
        OVERRIDES,
        {"reservation": reservation.pk, "assignment": assignment.pk, "code": "482957"},
    )
    assert response.status_code == 201, response.json()
    assert response.json() == {
        "id": response.json()["id"],
        "reservation": reservation.pk,
        "assignment": assignment.pk,
        "code": "482957",
        "lead_time_minutes": None,
        "starts_at": None,
        "ends_at": None,
    }
    assert LockAccess.objects.get(reservation=reservation, device=wired.gate).code == "482957"
    side = LockAccess.objects.get(reservation=reservation, device=wired.side)
    assert side.code == reservation.code.value


def test_setting_an_override_again_replaces_it(manager_api, wired):
    reservation = wired.book()
    assignment = gate_assignment(wired)
    base = {"reservation": reservation.pk, "assignment": assignment.pk}
    manager_api.post(OVERRIDES, {**base, "lead_time_minutes": 30})
    again = manager_api.post(OVERRIDES, {**base, "lead_time_minutes": 90})
    assert again.status_code == 200
    assert AccessOverride.objects.get().lead_time_minutes == 90
    access = LockAccess.objects.get(reservation=reservation, device=wired.gate)
    assert access.program_at == access.starts_at - datetime.timedelta(minutes=90)


def test_an_override_window_moves_that_lock_and_patch_changes_it(manager_api, wired):
    reservation = wired.book()
    starts = reservation.check_in - datetime.timedelta(hours=2)
    created = manager_api.post(
        OVERRIDES,
        {
            "reservation": reservation.pk,
            "assignment": gate_assignment(wired).pk,
            "starts_at": starts.isoformat(),
        },
    ).json()
    assert LockAccess.objects.get(reservation=reservation, device=wired.gate).starts_at == starts
    later = reservation.check_in + datetime.timedelta(hours=1)
    response = manager_api.patch(f"{OVERRIDES}{created['id']}/", {"starts_at": later.isoformat()})
    assert response.status_code == 200, response.json()
    assert LockAccess.objects.get(reservation=reservation, device=wired.gate).starts_at == later


def test_deleting_an_override_gives_the_lock_back_the_stays_code(manager_api, wired):
    reservation = wired.book()
    created = manager_api.post(
        OVERRIDES,
        {"reservation": reservation.pk, "assignment": gate_assignment(wired).pk, "code": "482957"},
    ).json()
    assert manager_api.delete(f"{OVERRIDES}{created['id']}/").status_code == 204
    access = LockAccess.objects.get(reservation=reservation, device=wired.gate)
    assert access.code == reservation.code.value


@pytest.mark.parametrize(
    "code, message",
    [("1234", "too easy"), ("48a957", "digits only"), ("4829571", "takes codes of")],
)
def test_a_code_the_lock_refuses_is_a_code_error(manager_api, wired, code, message):
    reservation = wired.book()
    response = manager_api.post(
        OVERRIDES,
        {"reservation": reservation.pk, "assignment": gate_assignment(wired).pk, "code": code},
    )
    assert response.status_code == 400
    assert message in response.json()["code"][0]
    assert not AccessOverride.objects.exists()


def test_a_code_another_stay_holds_on_that_lock_is_refused(manager_api, wired):
    first = wired.book()
    second = wired.book(guest_name="Ana Costa", guest_phone="")
    response = manager_api.post(
        OVERRIDES,
        {
            "reservation": second.pk,
            "assignment": gate_assignment(wired).pk,
            "code": first.code.value,
        },
    )
    assert response.status_code == 400 and "already uses" in response.json()["code"][0]


def test_override_validation_errors_name_their_field(manager_api, wired, org_a, org_b):
    reservation = wired.book()
    no_guests = LockAssignment.objects.get(listing=wired.listing, device=wired.back)
    cases = [
        ({"assignment": no_guests.pk}, "assignment"),
        ({"assignment": org_b.assignment.pk}, "assignment"),
        ({"reservation": org_b.reservation.pk}, "reservation"),
        ({"lead_time_minutes": -1}, "lead_time_minutes"),
        (
            {
                "starts_at": reservation.check_out.isoformat(),
                "ends_at": reservation.check_in.isoformat(),
            },
            "ends_at",
        ),
        ({"starts_at": "1900-01-01T00:00:00Z"}, "starts_at"),
    ]
    for change, field in cases:
        data = {"reservation": reservation.pk, "assignment": gate_assignment(wired).pk, **change}
        response = manager_api.post(OVERRIDES, data)
        assert response.status_code == 400, change
        assert field in response.json(), (change, response.json())
    other = org_a.reservation  # a stay at the same listing, but this lock is not its own
    elsewhere = manager_api.post(
        OVERRIDES, {"reservation": other.pk, "assignment": org_b.assignment.pk}
    )
    assert elsewhere.status_code == 400
    assert not AccessOverride.objects.exists()


def test_overrides_of_another_organization_are_404_and_staff_may_set_them(
    staff_api, manager_api, wired, org_b
):
    theirs = AccessOverride.objects.create(
        reservation=org_b.reservation, assignment=org_b.assignment, lead_time_minutes=5
    )
    assert manager_api.get(f"{OVERRIDES}{theirs.pk}/").status_code == 404
    assert manager_api.delete(f"{OVERRIDES}{theirs.pk}/").status_code == 404
    assert manager_api.get(OVERRIDES).json()["count"] == 0
    reservation = wired.book()
    response = staff_api.post(
        OVERRIDES, {"reservation": reservation.pk, "assignment": gate_assignment(wired).pk}
    )
    assert response.status_code == 201


# Events ------------------------------------------------------------------------------


def event(org, minutes_ago: int, kind=LockEvent.Kind.UNLOCKED, **fields) -> LockEvent:
    return LockEvent.objects.create(
        organization=org.organization,
        connection=org.device.connection,
        device=org.device,
        provider_event_id=f"evt-{org.organization.pk}-{minutes_ago}",
        event_type="lock.unlocked",
        kind=kind,
        occurred_at=timezone.now() - datetime.timedelta(minutes=minutes_ago),
        **fields,
    )


def test_the_activity_feed_lists_the_organizations_events_newest_first(manager_api, org_a, org_b):
    older = event(org_a, 30, method=LockEvent.Method.KEYPAD, person_name="Alpha Guest")
    newer = event(org_a, 5, kind=LockEvent.Kind.LOW_BATTERY, battery_level=0.1)
    event(org_b, 1)
    rows = manager_api.get(EVENTS).json()["results"]
    assert [row["id"] for row in rows] == [newer.pk, older.pk]
    assert rows[1]["person"] == "Alpha Guest" and rows[1]["device"] == org_a.device.pk
    assert rows[0]["kind"] == "low_battery" and rows[0]["battery_level"] == 0.1


def test_the_activity_feed_filters_by_listing_kind_person_and_time(manager_api, org_a, org_b):
    unlock = event(org_a, 30, person_name="Alpha Guest", reservation=org_a.reservation)
    event(org_a, 5, kind=LockEvent.Kind.OFFLINE)

    def ids(**params):
        return [row["id"] for row in manager_api.get(EVENTS, params).json()["results"]]

    assert ids(kind="unlocked") == [unlock.pk]
    assert ids(person="alpha") == [unlock.pk]
    assert ids(reservation=org_a.reservation.pk) == [unlock.pk]
    assert len(ids(listing=org_a.listing.pk)) == 2
    assert ids(listing=org_b.listing.pk) == []
    since = (timezone.now() - datetime.timedelta(minutes=10)).isoformat()
    assert len(ids(occurred_after=since)) == 1


def test_another_organizations_event_is_404_and_events_are_read_only(manager_api, org_b):
    theirs = event(org_b, 1)
    assert manager_api.get(f"{EVENTS}{theirs.pk}/").status_code == 404
    assert manager_api.post(EVENTS, {}).status_code == 405
