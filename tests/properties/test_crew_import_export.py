"""Crew members in and out of a spreadsheet with django-import-export's preview: a
manager imports a cleaning company's roster; another organization's rows are out of
reach; a bad kind is refused on its row; nothing is written before the confirmation;
an export re-imports unchanged, formula-safe."""

import io

import pytest

from properties.models import CrewMember
from properties.resources import CrewMemberResource
from tests.core.test_records_export import CSV_FORMAT, export, rows

pytestmark = pytest.mark.django_db

CREW = "/admin/properties/crewmember/"
HEADER = "organization,name,kind,email,phone\n"


def preview(client, text: str):
    upload = io.BytesIO(text.encode())
    upload.name = "crew.csv"
    return client.post(
        f"{CREW}import/", {"resource": "0", "format": CSV_FORMAT, "import_file": upload}
    )


def confirm(client, response):
    return client.post(f"{CREW}process_import/", response.context["confirm_form"].initial)


def test_a_roster_is_previewed_then_written(manager_client, org_a):
    text = (
        HEADER
        + "Alpha,Rosa Lima,cleaner,rosa@example.com,+351 912 000 111\n"
        + "Alpha,Fix-It Ltd,vendor,,\n"
    )
    shown = preview(manager_client, text)
    assert shown.status_code == 200 and "Confirm import" in shown.content.decode()
    assert not CrewMember.objects.exists()  # nothing before the confirmation
    assert confirm(manager_client, shown).status_code == 302
    assert set(
        CrewMember.objects.filter(organization=org_a.organization).values_list("name", "kind")
    ) == {("Rosa Lima", "cleaner"), ("Fix-It Ltd", "vendor")}


def test_a_bad_kind_or_another_organization_writes_nothing(manager_client, org_a, org_b):
    body = preview(manager_client, HEADER + "Alpha,Ana,butler,,\n").content.decode()
    assert "Confirm import" not in body and "is not a valid choice" in body
    body = preview(manager_client, HEADER + "Bravo,Planted,cleaner,,\n").content.decode()
    assert "No organization “Bravo” among the ones you manage." in body
    assert not CrewMember.objects.exists()


def test_staff_may_not_import_crew(staff_client):
    assert staff_client.get(f"{CREW}import/").status_code == 403


def test_an_export_re_imports_unchanged_and_safe(manager_client, org_a, org_b):
    CrewMember.objects.create(organization=org_a.organization, name="=Rosa", kind="cleaner")
    CrewMember.objects.create(organization=org_b.organization, name="Bravo's cleaner")
    response = export(manager_client, CREW, CrewMemberResource)
    found = rows(response)
    assert [(r["name"], r["active"]) for r in found] == [("'=Rosa", "True")]
    shown = preview(manager_client, response.content.decode("utf-8-sig"))
    confirm(manager_client, shown)
    assert list(
        CrewMember.objects.filter(organization=org_a.organization).values_list("name", flat=True)
    ) == ["=Rosa"]


def test_a_crew_members_language_is_imported_checked_and_exported(manager_client, org_a):
    header = "organization,name,kind,email,phone,language\n"
    body = preview(manager_client, header + "Alpha,Ana,cleaner,,,xx\n").content.decode()
    assert "Confirm import" not in body and "is not a language Keystay speaks" in body
    shown = preview(manager_client, header + "Alpha,Rosa Lima,cleaner,,,pt\n")
    confirm(manager_client, shown)
    assert CrewMember.objects.get(name="Rosa Lima").language == "pt"
    found = rows(export(manager_client, CREW, CrewMemberResource))
    assert [(r["name"], r["language"]) for r in found] == [("Rosa Lima", "pt")]
