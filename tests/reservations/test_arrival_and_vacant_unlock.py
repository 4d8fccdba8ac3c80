"""Before the guest arrives and after: the first unlock with the stay's code marks the guest
arrived; a code unlocking a guest door while nobody stays there raises an alert; alerts are
work items staff acknowledge, resolved with a message when their cause goes away.

Events are added to Seam's fake (its control endpoint) and read as the webhook would, by
the events reconcile.
"""

import datetime

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from locks.services import devices_sync
from reservations import readback
from reservations.activity import alerts_open
from reservations.alerts import alert_acknowledge
from reservations.events import events_reconcile
from reservations.models import DeviceAlert, LockAccess, LockEvent, Reservation
from tests.fixtures_lifecycle import run_at

pytestmark = pytest.mark.django_db

Alert = DeviceAlert.Kind
HOUR = datetime.timedelta(hours=1)


def access_on(reservation, device) -> LockAccess:
    return LockAccess.objects.get(reservation=reservation, device=device)


def in_stay(wired, **booking):
    """A stay under way whose code was put on both guest locks just now."""
    reservation = wired.book(days_ahead=-1, nights=3, **booking)
    run_at(timezone.now())
    assert access_on(reservation, wired.side).provider_id
    return reservation


def stamp(at: datetime.datetime) -> str:
    return at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def unlock(wired, device, *, at=None, **fields):
    """The lock reports an unlock (at `at`, default now); Keystay reads it."""
    if at is not None:
        fields["occurred_at"] = stamp(at)
    wired.fake.control(
        "/events/add",
        event_type="lock.unlocked",
        device_id=device.provider_device_id,
        **fields,
    )
    events_reconcile(connection=wired.connection)


def vacant_alerts():
    return list(DeviceAlert.objects.filter(kind=Alert.VACANT_UNLOCK).order_by("pk"))


# ---------------------------------------------------------------------------- arrival


def test_the_first_unlock_with_the_guests_code_marks_the_stay_arrived(wired):
    reservation = in_stay(wired)
    first = timezone.now() - 2 * HOUR
    code_id = access_on(reservation, wired.side).provider_id
    unlock(wired, wired.side, at=first, access_code_id=code_id, method="keycode")
    reservation.refresh_from_db()
    assert reservation.arrived_at == first.replace(microsecond=0)

    # A later unlock does not move it.
    unlock(wired, wired.side, at=first + HOUR, access_code_id=code_id, method="keycode")
    reservation.refresh_from_db()
    assert reservation.arrived_at == first.replace(microsecond=0)

    # An earlier unlock processed later (a late delivery, another door) moves it earlier.
    gate_id = access_on(reservation, wired.gate).provider_id
    earlier = first - HOUR
    unlock(wired, wired.gate, at=earlier, access_code_id=gate_id, method="keycode")
    reservation.refresh_from_db()
    assert reservation.arrived_at == earlier.replace(microsecond=0)
    assert not vacant_alerts()


def test_an_unlock_with_a_code_id_the_stay_held_before_marks_arrival(wired):
    reservation = in_stay(wired)
    old_id = access_on(reservation, wired.gate).provider_id
    wired.seam.access_codes.delete(access_code_id=old_id)
    readback.lock_reconcile_by_id(wired.gate.pk)
    run_at(timezone.now())  # re-created under a new id
    assert access_on(reservation, wired.gate).provider_id != old_id
    unlock(wired, wired.gate, access_code_id=old_id, method="keycode")
    reservation.refresh_from_db()
    assert reservation.arrived_at is not None
    assert not vacant_alerts()


def test_arrival_shows_on_the_dashboard_and_in_the_api(wired, org_a):
    reservation = wired.book(days_ahead=0)
    run_at(timezone.now())
    zone = wired.listing.property.zone
    arrived = reservation.check_in + datetime.timedelta(minutes=7)
    Reservation.objects.filter(pk=reservation.pk).update(arrived_at=arrived)
    client = Client()
    client.force_login(org_a.staff)
    page = client.get(reverse("dashboard")).content.decode()
    if timezone.localtime(reservation.check_in, zone).date() == timezone.localdate(timezone=zone):
        assert f"✓ arrived {timezone.localtime(arrived, zone):%Y-%m-%d %H:%M %Z}" in page
    body = client.get(f"/api/v1/reservations/{reservation.pk}/").json()
    assert body["arrived_at"] is not None
    admin_page = client.get(
        reverse("admin:reservations_reservation_change", args=[reservation.pk])
    ).content.decode()
    assert timezone.localtime(arrived, zone).strftime("%Y-%m-%d %H:%M") in admin_page


# ---------------------------------------------------------------------- vacant unlock


def test_an_unknown_code_while_vacant_raises_an_alert_per_unlock(wired, org_a):
    wired.book(days_ahead=3)  # a stay later: nobody is there now
    unlock(wired, wired.side, access_code_id="code_nobody_knows", method="keycode")
    unlock(wired, wired.side, method="keycode")  # the keypad, no code id reported
    first, second = vacant_alerts()
    assert (first.device, first.event.kind) == (wired.side, LockEvent.Kind.UNLOCKED)
    assert "does not know" in first.message and second.event != first.event
    alerts = alerts_open(user=org_a.manager)
    html = render_to_string("reservations/_alerts.html", {"alerts": alerts})
    assert "Unlocked while vacant" in html


def test_a_cleaners_code_while_vacant_does_not_alert(wired):
    made = wired.seam.access_codes.simulate.create_unmanaged_access_code(
        device_id=wired.side.provider_device_id, code="852741", name="Cleaner Ana"
    )
    devices_sync(connection=wired.connection)
    unlock(wired, wired.side, access_code_id=made.access_code_id, method="keycode")
    assert LockEvent.objects.get(kind=LockEvent.Kind.UNLOCKED).who == "Cleaner Ana"
    assert not vacant_alerts()


def test_a_past_guests_code_after_check_out_while_vacant_alerts(wired):
    reservation = in_stay(wired, guest_name="Rui Costa")
    code_id = access_on(reservation, wired.side).provider_id
    after = reservation.window[1] + HOUR  # the code still on the door, the stay over
    unlock(wired, wired.side, at=after, access_code_id=code_id, method="keycode")
    (alert,) = vacant_alerts()
    assert alert.reservation == reservation and "Rui Costa" in alert.message
    reservation.refresh_from_db()
    assert reservation.arrived_at is None  # an unlock after the stay is no arrival


def test_an_unknown_code_during_a_stay_is_no_vacant_unlock(wired):
    in_stay(wired)
    unlock(wired, wired.side, access_code_id="code_nobody_knows", method="keycode")
    assert not vacant_alerts()


def test_manual_and_app_unlocks_while_vacant_are_recorded_without_alert(wired):
    unlock(wired, wired.side, method="manual")
    unlock(wired, wired.side, method="remote")
    assert sorted(e.who for e in LockEvent.objects.filter(kind=LockEvent.Kind.UNLOCKED)) == [
        "App",
        "Manual",
    ]
    assert not vacant_alerts()


def test_a_lock_without_guest_access_never_raises_a_vacant_unlock(wired):
    unlock(wired, wired.back, access_code_id="code_nobody_knows", method="keycode")
    assert LockEvent.objects.filter(kind=LockEvent.Kind.UNLOCKED).count() == 1
    assert not vacant_alerts()


# ------------------------------------------------------------------- alerts as work


def test_an_alert_resolves_itself_with_a_message_when_the_lock_is_back_online(wired, org_a):
    gate = wired.gate
    wired.fake.control("/devices/update", device_id=gate.provider_device_id, online=False)
    events_reconcile(connection=wired.connection)
    alert = DeviceAlert.objects.get(device=gate, kind=Alert.OFFLINE)
    assert alert.is_open
    wired.fake.control("/devices/update", device_id=gate.provider_device_id, online=True)
    events_reconcile(connection=wired.connection)
    alert.refresh_from_db()
    assert not alert.is_open and alert.resolution == "Lock back online."
    assert DeviceAlert.objects.filter(pk=alert.pk).exists()  # kept in the history


def test_the_device_import_resolves_with_a_message_too(wired):
    wired.fake.control("/devices/update", device_id="keystay_lock_offline", online=True)
    devices_sync(connection=wired.connection)
    alert = DeviceAlert.objects.get(device__provider_device_id="keystay_lock_offline")
    assert alert.resolution == "Lock back online."


def test_staff_acknowledge_an_alert_from_the_dashboard_another_org_cannot(wired, org_a, org_b):
    wired.fake.control("/devices/update", device_id=wired.gate.provider_device_id, online=False)
    events_reconcile(connection=wired.connection)
    alert = DeviceAlert.objects.get(device=wired.gate, kind=Alert.OFFLINE)
    url = reverse("alert_acknowledge", args=[alert.pk])

    outsider = Client()
    outsider.force_login(org_b.manager)
    assert outsider.post(url).status_code == 404
    alert.refresh_from_db()
    assert alert.acknowledged_at is None

    forged = Client(enforce_csrf_checks=True)
    forged.force_login(org_a.staff)
    assert forged.post(url).status_code == 403  # no CSRF token

    staff = Client()
    staff.force_login(org_a.staff)
    assert staff.get(url).status_code == 405
    page = staff.get(reverse("dashboard")).content.decode()
    assert url in page  # the button
    response = staff.post(url)
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_by == org_a.staff and alert.acknowledged_at is not None
    assert alert.is_open  # still offline: listed, greyed, until resolved
    page = staff.get(reverse("dashboard")).content.decode()
    assert url not in page and "acknowledged" in page
    assert (alert.acknowledged_by_name or org_a.staff.username) in page


def test_acknowledging_a_vacant_unlock_resolves_it(wired, org_a):
    unlock(wired, wired.side, access_code_id="code_nobody_knows", method="keycode")
    (alert,) = vacant_alerts()
    alert = alert_acknowledge(alert=alert, by=org_a.manager)
    assert alert.resolved_at is not None and alert.resolution.startswith("Acknowledged by")


def test_the_admin_acknowledges_alerts_with_an_action_fields_stay_read_only(wired, org_a):
    wired.fake.control("/devices/update", device_id=wired.gate.provider_device_id, online=False)
    events_reconcile(connection=wired.connection)
    alert = DeviceAlert.objects.get(device=wired.gate, kind=Alert.OFFLINE)
    client = Client()
    client.force_login(org_a.staff)
    changelist = reverse("admin:reservations_devicealert_changelist")
    response = client.post(
        changelist,
        {"action": "acknowledge_selected", "_selected_action": [alert.pk], "index": 0},
    )
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_by == org_a.staff
    page = client.get(reverse("admin:reservations_devicealert_change", args=[alert.pk]))
    assert page.status_code == 200 and b'name="message"' not in page.content
