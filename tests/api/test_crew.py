"""/api/v1/crew-members/ and /api/v1/turnovers/: scoped and role-checked like the rest; a
cleaning app lists turnovers, assigns them and marks them done."""

import datetime

import pytest
import time_machine

from properties.models import CrewMember
from reservations.models import Turnover

pytestmark = pytest.mark.django_db


def turnover_of(org, **fields):
    stay = org.reservation
    return Turnover.objects.create(
        organization=org.organization,
        listing=org.listing,
        after_stay=stay,
        starts_at=stay.check_out,
        ends_at=stay.check_out + datetime.timedelta(hours=4),
        **fields,
    )


def test_a_manager_adds_a_crew_member_staff_may_not(manager_api, staff_api, org_a):
    made = manager_api.post(
        "/api/v1/crew-members/", {"name": "Rosa", "email": "rosa@example.com"}, format="json"
    )
    assert made.status_code == 201, made.content
    assert made.json()["kind"] == "cleaner"
    assert CrewMember.objects.get(pk=made.json()["id"]).organization == org_a.organization
    refused = staff_api.post("/api/v1/crew-members/", {"name": "Tom"}, format="json")
    assert refused.status_code == 403


def test_turnovers_are_listed_to_their_organization_only(manager_api, other_api, org_a):
    turnover = turnover_of(org_a)
    listed = manager_api.get("/api/v1/turnovers/").json()["results"]
    assert [row["id"] for row in listed] == [turnover.pk]
    assert listed[0]["state"] == "planned" and "code" not in listed[0]
    assert other_api.get("/api/v1/turnovers/").json()["results"] == []
    assert other_api.get(f"/api/v1/turnovers/{turnover.pk}/").status_code == 404


def test_staff_assign_and_mark_done_once(staff_api, org_a, org_b):
    turnover = turnover_of(org_a)
    rosa = CrewMember.objects.create(organization=org_a.organization, name="Rosa")
    stranger = CrewMember.objects.create(organization=org_b.organization, name="Eve")
    url = f"/api/v1/turnovers/{turnover.pk}/"
    assigned = staff_api.post(f"{url}assign/", {"assignee": rosa.pk}, format="json")
    assert assigned.status_code == 200, assigned.content
    assert assigned.json()["assignee"] == rosa.pk
    refused = staff_api.post(f"{url}assign/", {"assignee": stranger.pk}, format="json")
    assert refused.status_code == 400 and "assignee" in refused.json()
    early = staff_api.post(f"{url}done/")  # the guests are still inside
    assert early.status_code == 400 and "when the guests leave" in str(early.json())
    with time_machine.travel(turnover.starts_at + datetime.timedelta(hours=1), tick=False):
        done = staff_api.post(f"{url}done/")
        assert done.status_code == 200 and done.json()["state"] == "done"
        first_done_at = done.json()["done_at"]
        again = staff_api.post(f"{url}done/")
    assert again.json()["done_at"] == first_done_at  # twice does nothing more


def test_a_crew_members_language_is_one_keystay_speaks(manager_api, org_a):
    made = manager_api.post(
        "/api/v1/crew-members/", {"name": "Rosa", "language": "pt"}, format="json"
    )
    assert made.status_code == 201, made.content
    assert made.json()["language"] == "pt"
    refused = manager_api.post(
        "/api/v1/crew-members/", {"name": "Tom", "language": "xx"}, format="json"
    )
    assert refused.status_code == 400 and "language" in refused.json()
