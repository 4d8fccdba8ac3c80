"""/api/v1/standing-accesses/, /api/v1/code-clearances/ and offboarding through the API:
scoped and role-checked like the crew members and turnovers; the codes reach Seam's fake
and leave it again."""

import datetime

import pytest
from django.utils import timezone

from properties.models import CrewMember, Property
from reservations.models import StandingAccess
from tests.fixtures_lifecycle import run_at

pytestmark = pytest.mark.django_db


def standing_codes(wired, device):
    return [c for c in wired.codes_on(device) if c.name.startswith("KC")]


def body(crew, **fields):
    return {
        "crew_member": crew.rosa.pk,
        "listing": crew.listing.pk,
        "doors": [crew.side.pk],
        "starts_at": (timezone.now() - datetime.timedelta(hours=1)).isoformat(),
        "ends_at": None,
        "hours": [{"property": crew.listing.property_id, "opens": "08:00", "closes": "17:00"}],
        **fields,
    }


def test_a_manager_gives_standing_access_staff_read_it_another_org_sees_nothing(
    manager_api, staff_api, other_api, crew
):
    made = manager_api.post("/api/v1/standing-accesses/", body(crew), format="json")
    assert made.status_code == 201, made.content
    data = made.json()
    assert data["ends_at"] is None and data["hours"][0]["opens"] == "08:00:00"
    assert "code" not in data
    run_at(timezone.now())
    for device in (crew.gate, crew.back, crew.side):
        (on_lock,) = standing_codes(crew, device)
        assert on_lock.type == "ongoing"
    assert staff_api.get(f"/api/v1/standing-accesses/{data['id']}/").status_code == 200
    assert (
        staff_api.post("/api/v1/standing-accesses/", body(crew), format="json").status_code == 403
    )
    assert other_api.get(f"/api/v1/standing-accesses/{data['id']}/").status_code == 404
    assert other_api.get("/api/v1/standing-accesses/").json()["results"] == []


def test_another_organizations_crew_or_doors_are_refused(manager_api, crew, org_b):
    stranger = CrewMember.objects.create(organization=org_b.organization, name="Eve")
    refused = manager_api.post(
        "/api/v1/standing-accesses/", body(crew, crew_member=stranger.pk), format="json"
    )
    assert refused.status_code == 400
    refused = manager_api.post(
        "/api/v1/standing-accesses/", body(crew, doors=[org_b.device.pk]), format="json"
    )
    assert refused.status_code == 400
    assert not StandingAccess.objects.exists()


def test_offboarding_through_the_api_clears_every_door_and_reports_each(
    manager_api, staff_api, crew
):
    made = manager_api.post("/api/v1/standing-accesses/", body(crew), format="json").json()
    run_at(timezone.now())
    url = f"/api/v1/crew-members/{crew.rosa.pk}/offboard/"
    assert staff_api.post(url).status_code == 403
    report = manager_api.post(url)
    assert report.status_code == 200, report.content
    assert {c["status"] for c in report.json()["codes"]} == {"pending"}
    assert len(report.json()["codes"]) == 3
    run_at(timezone.now() + datetime.timedelta(minutes=1))
    for device in (crew.gate, crew.back, crew.side):
        assert standing_codes(crew, device) == []
    again = manager_api.get(f"/api/v1/code-clearances/{report.json()['id']}/").json()
    assert {c["status"] for c in again["codes"]} == {"cleared"}
    assert all("•" in c["code"] for c in again["codes"])
    assert manager_api.get(f"/api/v1/standing-accesses/{made['id']}/").json()["ended_at"]


def test_offboarding_twice_answers_the_same_report_until_new_codes_need_clearing(
    manager_api, crew
):
    manager_api.post("/api/v1/standing-accesses/", body(crew), format="json")
    run_at(timezone.now())
    url = f"/api/v1/crew-members/{crew.rosa.pk}/offboard/"
    first = manager_api.post(url).json()
    again = manager_api.post(url)  # removals still pending: nothing new to clear
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    run_at(timezone.now() + datetime.timedelta(minutes=1))
    assert manager_api.post(url).json()["id"] == first["id"]
    assert manager_api.delete(f"/api/v1/crew-members/{crew.rosa.pk}/").status_code == 204
    assert crew.rosa.code_clearances.count() == 1

    # Back at work with a code of her own, then gone again: a new report for that code.
    crew.rosa.refresh_from_db()
    assert manager_api.patch(
        f"/api/v1/crew-members/{crew.rosa.pk}/", {"active": True}, format="json"
    ).json()["active"]
    manager_api.post("/api/v1/standing-accesses/", body(crew), format="json")
    run_at(timezone.now() + datetime.timedelta(minutes=2))
    second = manager_api.post(url).json()
    assert second["id"] != first["id"] and len(second["codes"]) == 3
    assert crew.rosa.code_clearances.count() == 2


def test_a_clearance_gives_its_times_with_the_doors_zone(manager_api, crew):
    Property.objects.filter(pk=crew.listing.property_id).update(time_zone="America/New_York")
    manager_api.post("/api/v1/standing-accesses/", body(crew), format="json")
    run_at(timezone.now())
    made = manager_api.post(f"/api/v1/crew-members/{crew.rosa.pk}/offboard/").json()
    run_at(timezone.now() + datetime.timedelta(minutes=1))
    report = manager_api.get(f"/api/v1/code-clearances/{made['id']}/").json()
    assert report["time_zone"] == "America/New_York" and report["at"].endswith("-05:00")
    assert {c["time_zone"] for c in report["codes"]} == {"America/New_York"}
    assert all(c["cleared_at"].endswith("-05:00") for c in report["codes"])
    listed = manager_api.get("/api/v1/code-clearances/").json()["results"]
    assert listed[0]["at"] == report["at"]


def test_active_false_and_delete_offboard_too(manager_api, crew):
    manager_api.post("/api/v1/standing-accesses/", body(crew), format="json")
    run_at(timezone.now())
    changed = manager_api.patch(
        f"/api/v1/crew-members/{crew.rosa.pk}/", {"active": False}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["active"] is False
    run_at(timezone.now() + datetime.timedelta(minutes=1))
    assert all(standing_codes(crew, d) == [] for d in (crew.gate, crew.back, crew.side))
    ben = CrewMember.objects.create(organization=crew.listing.organization, name="Ben")
    assert manager_api.delete(f"/api/v1/crew-members/{ben.pk}/").status_code == 204
    ben.refresh_from_db()
    assert not ben.active and ben.code_clearances.count() == 1


def test_absurd_starts_and_duplicate_hours_are_field_errors_not_conflicts(manager_api, crew):
    late = manager_api.post(
        "/api/v1/standing-accesses/", body(crew, starts_at="9999-12-31T23:00:00Z"), format="json"
    )
    assert late.status_code == 400, late.content
    assert "starts_at" in late.json()
    hours = [
        {"property": crew.listing.property_id, "opens": "08:00", "closes": "10:00"},
        {"property": crew.listing.property_id, "opens": "12:00", "closes": "17:00"},
    ]
    twice = manager_api.post("/api/v1/standing-accesses/", body(crew, hours=hours), format="json")
    assert twice.status_code == 400, twice.content
    assert "hours" in twice.json()
    assert not StandingAccess.objects.exists()


def test_working_hours_that_close_when_they_open_are_refused(manager_api, crew):
    hours = [{"property": crew.listing.property_id, "opens": "08:00", "closes": "08:00"}]
    refused = manager_api.post(
        "/api/v1/standing-accesses/", body(crew, hours=hours), format="json"
    )
    assert refused.status_code == 400, refused.content
    assert "Closes at the time it opens" in refused.content.decode()
    assert not StandingAccess.objects.exists()
