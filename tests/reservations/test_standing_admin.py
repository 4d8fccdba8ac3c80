"""Standing access and offboarding in the admin: managers write, staff read, another
organization's rows are out of reach; offboarding (button, action, or *active* unticked
in the form) takes every code off the fake's locks and lands on the report."""

import datetime
import zoneinfo

import pytest
from django.urls import reverse
from django.utils import timezone

from core.timezones import format_instant
from locks.models import Device
from locks.services import devices_sync
from properties.models import CrewMember, Property
from reservations.models import CodeClearance, LockAccess, StandingAccess
from reservations.standing import crew_offboard, standing_replan
from tests.fixtures_lifecycle import run_at

pytestmark = pytest.mark.django_db


def standing_codes(wired, device):
    return [c for c in wired.codes_on(device) if c.name.startswith("KC")]


def add_form(member, **fields):
    now = timezone.localtime()
    data = {
        "crew_member": member.pk,
        "starts_at_0": (now - datetime.timedelta(hours=1)).strftime("%Y-%m-%d"),
        "starts_at_1": (now - datetime.timedelta(hours=1)).strftime("%H:%M:%S"),
        "ends_at_0": "",
        "ends_at_1": "",
        "note": "",
        "hours-TOTAL_FORMS": "0",
        "hours-INITIAL_FORMS": "0",
        "lock_accesses-TOTAL_FORMS": "0",
        "lock_accesses-INITIAL_FORMS": "0",
    }
    data.update(fields)
    return data


def test_a_manager_gives_a_standing_code_in_the_admin_and_it_reaches_the_doors(
    client, crew, org_a
):
    client.force_login(org_a.manager)
    url = reverse("admin:reservations_standingaccess_add")
    response = client.post(url, add_form(crew.rosa, listing=crew.listing.pk))
    assert response.status_code == 302, response.content.decode()[:3000]
    standing = StandingAccess.objects.get()
    assert standing.organization == crew.listing.organization and standing.ends_at is None
    run_at(timezone.now())
    assert len(standing_codes(crew, crew.gate)) == 1 and len(standing_codes(crew, crew.back)) == 1


def test_staff_read_standing_access_but_cannot_add_one(client, crew, org_a):
    client.force_login(org_a.staff)
    assert client.get(reverse("admin:reservations_standingaccess_changelist")).status_code == 200
    response = client.post(
        reverse("admin:reservations_standingaccess_add"),
        add_form(crew.rosa, listing=crew.listing.pk),
    )
    assert response.status_code == 403
    assert not StandingAccess.objects.exists()


def test_a_crafted_post_cannot_pick_another_organizations_crew_or_doors(
    client, crew, org_a, org_b
):
    stranger = CrewMember.objects.create(organization=org_b.organization, name="Eve")
    client.force_login(org_a.manager)
    url = reverse("admin:reservations_standingaccess_add")
    response = client.post(url, add_form(stranger, listing=org_b.listing.pk))
    assert response.status_code == 200  # the form again, refused
    response = client.post(url, add_form(crew.rosa, doors=[org_b.device.pk]))
    assert response.status_code == 200
    assert not StandingAccess.objects.exists()


def test_the_offboard_button_confirms_then_clears_every_door_and_shows_the_report(
    client, crew, org_a
):
    standing = StandingAccess.objects.create(
        organization=crew.listing.organization,
        crew_member=crew.rosa,
        listing=crew.listing,
        starts_at=timezone.now() - datetime.timedelta(hours=1),
    )
    standing_replan(standing=standing)
    standing.refresh_from_db()
    run_at(timezone.now())
    client.force_login(org_a.manager)
    change = client.get(reverse("admin:properties_crewmember_change", args=[crew.rosa.pk]))
    assert 'id="offboard-link"' in change.content.decode()
    url = reverse("admin:properties_crewmember_offboard", args=[crew.rosa.pk])
    confirm = client.get(url).content.decode()
    assert "Front gate" in confirm and "Fake August Lock 2" in confirm
    assert standing.code and standing.code not in confirm  # masked
    assert f"••••{standing.code[-2:]}" in confirm

    # Staff may not offboard.
    client.force_login(org_a.staff)
    assert client.post(url).status_code == 403
    client.force_login(org_a.manager)
    response = client.post(url)
    clearance = CodeClearance.objects.get()
    assert response.url == reverse("admin:reservations_codeclearance_change", args=[clearance.pk])
    run_at(timezone.now() + datetime.timedelta(minutes=1))
    assert standing_codes(crew, crew.gate) == [] and standing_codes(crew, crew.back) == []
    report = client.get(response.url).content.decode()
    assert report.count('data-status="cleared"') == 2
    crew.rosa.refresh_from_db()
    assert not crew.rosa.active


def test_offboarding_someone_already_offboarded_links_their_report(client, crew, org_a):
    client.force_login(org_a.manager)
    url = reverse("admin:properties_crewmember_offboard", args=[crew.rosa.pk])
    first = client.post(url)
    assert CodeClearance.objects.count() == 1
    for again in (
        client.post(url, follow=True),
        client.post(
            reverse("admin:properties_crewmember_changelist"),
            {"action": "offboard", "_selected_action": [crew.rosa.pk]},
            follow=True,
        ),
    ):
        assert again.redirect_chain[0][0] == first.url
        page = again.content.decode()
        assert "Rosa is already offboarded" in page
        assert f'href="{first.url}" class="already-offboarded"' in page
        assert "crew member(s) offboarded" not in page
    assert CodeClearance.objects.count() == 1


def test_the_clearance_report_shows_each_time_on_its_doors_clock_named(client, crew, org_a):
    new_york = zoneinfo.ZoneInfo("America/New_York")
    Property.objects.filter(pk=crew.listing.property_id).update(time_zone=new_york.key)
    (loose_id,) = crew.fake.add_locks(1)
    devices_sync(connection=crew.connection)
    loose = Device.objects.get(provider_device_id=loose_id)  # a door at no listing
    standing = StandingAccess.objects.create(
        organization=crew.listing.organization,
        crew_member=crew.rosa,
        listing=crew.listing,
        starts_at=timezone.now() - datetime.timedelta(hours=1),
    )
    standing.doors.set([loose])
    standing_replan(standing=standing)
    run_at(timezone.now())
    clearance = crew_offboard(crew_member=crew.rosa, by="Ana")
    run_at(timezone.now() + datetime.timedelta(minutes=1))
    client.force_login(org_a.manager)

    report = client.get(
        reverse("admin:reservations_codeclearance_change", args=[clearance.pk])
    ).content.decode()
    gone = {a.device_id: a.removed_at for a in standing.lock_accesses.all()}
    assert report.count('data-status="cleared"') == 3
    for device in (crew.gate, crew.back):
        local = format_instant(gone[device.pk], new_york)
        assert local.endswith(" EST") and f"cleared {local}" in report
    assert f"cleared {format_instant(gone[loose.pk], datetime.UTC)}" in report
    assert format_instant(gone[loose.pk], datetime.UTC).endswith(" UTC")
    assert report.count(" UTC</td>") == 1  # the door at no listing only
    at_here = format_instant(clearance.at, new_york)
    assert at_here in report
    listed = client.get(reverse("admin:reservations_codeclearance_changelist")).content.decode()
    assert at_here in listed and format_instant(clearance.at, datetime.UTC) in listed


def test_unticking_active_in_the_form_offboards(client, crew, org_a):
    client.force_login(org_a.manager)
    url = reverse("admin:properties_crewmember_change", args=[crew.rosa.pk])
    response = client.post(
        url,
        {
            "organization": crew.rosa.organization_id,
            "name": "Rosa",
            "kind": "cleaner",
            "email": "rosa@example.com",
            "phone": "",
            "user": "",
        },
    )
    assert response.status_code == 302
    clearance = CodeClearance.objects.get(crew_member=crew.rosa)
    assert response.url.endswith(f"/codeclearance/{clearance.pk}/change/")
    crew.rosa.refresh_from_db()
    assert not crew.rosa.active


def test_another_organizations_crew_member_cannot_be_offboarded(client, org_a, org_b):
    stranger = CrewMember.objects.create(organization=org_b.organization, name="Eve")
    client.force_login(org_a.manager)
    url = reverse("admin:properties_crewmember_offboard", args=[stranger.pk])
    assert client.post(url).status_code == 404
    stranger.refresh_from_db()
    assert stranger.active and not LockAccess.objects.filter(standing__isnull=False).exists()


def test_a_start_in_year_9999_is_a_field_error_not_a_server_error(client, crew, org_a):
    client.force_login(org_a.manager)
    response = client.post(
        reverse("admin:reservations_standingaccess_add"),
        add_form(crew.rosa, listing=crew.listing.pk, starts_at_0="9999-12-31"),
    )
    assert response.status_code == 200
    assert "Pick a start before 2200-01-01." in response.content.decode()
    assert not StandingAccess.objects.exists()


def test_staff_cannot_end_a_standing_access_or_offboard_with_the_list_actions(client, crew, org_a):
    standing = StandingAccess.objects.create(
        organization=crew.listing.organization,
        crew_member=crew.rosa,
        listing=crew.listing,
        starts_at=timezone.now() - datetime.timedelta(hours=1),
    )
    standing_replan(standing=standing)
    client.force_login(org_a.staff)
    changelist = reverse("admin:reservations_standingaccess_changelist")
    assert "end_now" not in client.get(changelist).content.decode()
    client.post(changelist, {"action": "end_now", "_selected_action": [standing.pk]})
    client.post(
        reverse("admin:properties_crewmember_changelist"),
        {"action": "offboard", "_selected_action": [crew.rosa.pk]},
    )
    standing.refresh_from_db()
    crew.rosa.refresh_from_db()
    assert standing.ended_at is None and crew.rosa.active
    assert not CodeClearance.objects.exists()


def test_working_hours_that_close_when_they_open_are_a_field_error(client, crew, org_a):
    client.force_login(org_a.manager)
    hours = {
        "hours-TOTAL_FORMS": "1",
        "hours-0-property": crew.listing.property_id,
        "hours-0-opens": "08:00",
        "hours-0-closes": "08:00",
    }
    response = client.post(
        reverse("admin:reservations_standingaccess_add"),
        add_form(crew.rosa, listing=crew.listing.pk, **hours),
    )
    assert response.status_code == 200
    assert "Closes at the time it opens" in response.content.decode()
    assert not StandingAccess.objects.exists()


def test_the_standing_access_crew_picker_offers_active_people_only(client, crew, org_a):
    gone = CrewMember.objects.create(
        organization=org_a.organization, name="Gone Cleaner", active=False
    )
    client.force_login(org_a.manager)
    picker = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "reservations", "model_name": "standingaccess", "field_name": "crew_member"},
    ).json()
    names = [row["text"] for row in picker["results"]]
    assert crew.rosa.name in names and gone.name not in names
