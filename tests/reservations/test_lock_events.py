"""Lock events read from Seam (the fake), attributed to people, and the alerts they raise."""

import json

import pytest
from django.template.loader import render_to_string

from locks.gateway import ProviderError
from locks.services import devices_sync
from reservations.activity import alerts_open, events_for_reservation
from reservations.events import events_reconcile
from reservations.models import DeviceAlert, LockAccess, LockEvent
from reservations.tasks import reconcile_all_events
from tests import fixtures_lifecycle as lifecycle
from tests.webhook_signing import SECRET, signed_headers

pytestmark = pytest.mark.django_db

run_at = lifecycle.run_at

SIDE_DOOR = "keystay_lock_low_battery"  # an August lock: it can hold unmanaged codes


def programmed(wired, **booking):
    """A confirmed stay whose code is on its locks (the lifecycle ran at its instant)."""
    reservation = wired.book(**booking)
    access = LockAccess.objects.get(reservation=reservation, device=wired.side)
    run_at(access.due_at)
    access.refresh_from_db()
    assert access.provider_id
    return reservation, access


def unlock(wired, device_id=SIDE_DOOR, **fields):
    return wired.fake.control(
        "/events/add", event_type="lock.unlocked", device_id=device_id, **fields
    )["event"]


def cleaner_code(wired, code="852741", name="Cleaner Ana"):
    """A code made in the lock's own app, then imported by a device import."""
    made = wired.seam.access_codes.simulate.create_unmanaged_access_code(
        device_id=SIDE_DOOR, code=code, name=name
    )
    devices_sync(connection=wired.connection)
    return made


def test_an_unlock_with_a_stays_code_is_attributed_to_its_guest(wired):
    reservation, access = programmed(wired, guest_name="Maria Silva")
    unlock(wired, access_code_id=access.provider_id, method="keycode")
    events_reconcile(connection=wired.connection)
    event = LockEvent.objects.get(kind=LockEvent.Kind.UNLOCKED)
    assert (event.device, event.reservation) == (wired.side, reservation)
    assert event.who == "Maria Silva"
    assert event.method == LockEvent.Method.KEYPAD
    # The reservation page shows it among its own events, with the guest's name.
    assert event in events_for_reservation(reservation)
    events = events_for_reservation(reservation)
    html = render_to_string("reservations/_events.html", {"events": events})
    assert "Maria Silva" in html and "Unlocked" in html and "Side Door" in html


def test_an_unlock_with_a_code_from_the_lock_app_is_attributed_to_that_codes_name(wired):
    made = cleaner_code(wired, name="Cleaner Ana")
    unlock(wired, access_code_id=made.access_code_id, method="keycode")
    events_reconcile(connection=wired.connection)
    event = LockEvent.objects.get(kind=LockEvent.Kind.UNLOCKED)
    assert event.unmanaged_code.provider_id == made.access_code_id
    assert event.reservation is None
    assert event.who == "Cleaner Ana"


def test_an_unlock_without_a_known_code_shows_how_the_door_was_opened(wired):
    unlock(wired, method="manual")
    unlock(wired, method="remote")
    unlock(wired, method="keycode", access_code_id="code_nobody_knows")
    unlock(wired)  # no method reported
    events_reconcile(connection=wired.connection)
    who = sorted(e.who for e in LockEvent.objects.filter(kind=LockEvent.Kind.UNLOCKED))
    assert who == ["App", "Keypad (unknown code)", "Manual", "Unknown"]


def test_a_code_made_in_the_lock_app_after_the_import_gets_its_name_once_imported(
    wired, django_capture_on_commit_callbacks
):
    made = wired.seam.access_codes.simulate.create_unmanaged_access_code(
        device_id=SIDE_DOOR, code="963852", name="Owner Rui"
    )
    unlock(wired, access_code_id=made.access_code_id, method="keycode")
    # The unknown code makes Keystay read the lock's unmanaged codes again, after commit.
    with django_capture_on_commit_callbacks(execute=True):
        events_reconcile(connection=wired.connection)
    assert LockEvent.objects.get(kind=LockEvent.Kind.UNLOCKED).who == "Owner Rui"


def test_each_event_is_recorded_once_however_often_it_is_listed(wired):
    _, access = programmed(wired)
    unlock(wired, access_code_id=access.provider_id, method="keycode")
    first = events_reconcile(connection=wired.connection)
    second = events_reconcile(connection=wired.connection)
    assert first["recorded"] >= 1 and second["recorded"] == 0
    assert LockEvent.objects.filter(kind=LockEvent.Kind.UNLOCKED).count() == 1


def test_codes_set_removed_and_failed_on_the_lock_are_stored_with_the_guest(wired):
    reservation, access = programmed(wired, guest_name="Maria Silva")
    wired.fake.control("/access_codes/set_state", access_code_id=access.provider_id, status="set")
    events_reconcile(connection=wired.connection)
    event = LockEvent.objects.get(kind=LockEvent.Kind.CODE_SET)
    assert (event.reservation, event.who) == (reservation, "Maria Silva")
    assert "code" not in event.payload  # the fake reports the digits; Keystay never keeps them


def test_a_code_that_failed_to_program_raises_an_alert_until_it_is_set(wired, org_a):
    reservation, access = programmed(wired, guest_name="Maria Silva")
    wired.fake.control(
        "/access_codes/add_error",
        access_code_id=access.provider_id,
        error_code="failed_to_set_on_device",
    )
    events_reconcile(connection=wired.connection)
    (alert,) = alerts_open(user=org_a.manager).filter(kind=DeviceAlert.Kind.CODE_FAILED)
    assert (alert.device, alert.reservation) == (wired.side, reservation)
    assert "Maria Silva" in alert.message
    html = render_to_string("reservations/_alerts.html", {"alerts": [alert]})
    assert "Side Door" in html and "Code failed on lock" in html

    wired.fake.control("/access_codes/set_state", access_code_id=access.provider_id, status="set")
    events_reconcile(connection=wired.connection)
    assert not alerts_open(user=org_a.manager).filter(kind=DeviceAlert.Kind.CODE_FAILED)


def test_a_lock_going_offline_and_low_on_battery_is_flagged_until_it_recovers(wired, org_a):
    gate = wired.gate
    wired.fake.control("/devices/update", device_id=gate.provider_device_id, online=False)
    wired.fake.control("/devices/update", device_id=gate.provider_device_id, battery_level=0.08)
    events_reconcile(connection=wired.connection)
    gate.refresh_from_db()
    assert gate.online is False and gate.battery_percent == 8
    kinds = set(alerts_open(user=org_a.manager).filter(device=gate).values_list("kind", flat=True))
    assert kinds == {DeviceAlert.Kind.OFFLINE, DeviceAlert.Kind.LOW_BATTERY}
    assert {e.kind for e in LockEvent.objects.filter(device=gate)} >= {
        LockEvent.Kind.OFFLINE,
        LockEvent.Kind.LOW_BATTERY,
    }

    wired.fake.control("/devices/update", device_id=gate.provider_device_id, online=True)
    wired.fake.control("/devices/update", device_id=gate.provider_device_id, battery_level=0.9)
    events_reconcile(connection=wired.connection)
    gate.refresh_from_db()
    assert gate.online is True and gate.battery_percent == 90
    assert not alerts_open(user=org_a.manager).filter(device=gate)


def test_the_device_import_raises_alerts_for_offline_and_low_battery_locks(wired, org_a, org_b):
    # The fake's seed has an offline lock (Pool House) and a low one (Side Door, 12%).
    open_alerts = {(a.device.name, a.kind) for a in alerts_open(user=org_a.manager)}
    assert ("Pool House", DeviceAlert.Kind.OFFLINE) in open_alerts
    assert ("Side Door", DeviceAlert.Kind.LOW_BATTERY) in open_alerts
    assert not alerts_open(user=org_b.manager)  # another organization's locks: none
    # Once the lock reports back online, the next import resolves its alert.
    wired.fake.control("/devices/update", device_id="keystay_lock_offline", online=True)
    devices_sync(connection=wired.connection)
    open_alerts = {(a.device.name, a.kind) for a in alerts_open(user=org_a.manager)}
    assert ("Pool House", DeviceAlert.Kind.OFFLINE) not in open_alerts


def test_events_of_locks_keystay_has_not_imported_are_ignored(wired):
    wired.fake.control("/events/add", event_type="lock.unlocked", device_id="ecobee_device_1")
    outcome = events_reconcile(connection=wired.connection)
    assert outcome["ignored"] >= 1
    assert not LockEvent.objects.filter(kind=LockEvent.Kind.UNLOCKED).exists()


def test_a_reservation_shows_its_own_events_never_another_guests(wired):
    # Under way whatever the time of day: the cleaner's unlock falls inside Maria's stay.
    maria, maria_access = programmed(wired, guest_name="Maria Silva", days_ahead=-1, nights=3)
    made = cleaner_code(wired, name="Cleaner Ana")
    unlock(wired, access_code_id=maria_access.provider_id, method="keycode")
    unlock(wired, access_code_id=made.access_code_id, method="keycode")  # during Maria's stay
    events_reconcile(connection=wired.connection)
    joao, joao_access = programmed(wired, guest_name="João Costa", days_ahead=10, nights=2)
    unlock(wired, access_code_id=joao_access.provider_id, method="keycode")
    events_reconcile(connection=wired.connection)
    who = {e.who for e in events_for_reservation(maria) if e.kind == LockEvent.Kind.UNLOCKED}
    assert who == {"Maria Silva", "Cleaner Ana"}
    assert {e.who for e in events_for_reservation(joao)} == {"João Costa"}


def test_the_reservations_events_are_read_in_a_fixed_number_of_queries(
    wired, django_assert_max_num_queries
):
    reservation, access = programmed(wired, days_ahead=0, nights=2)
    unlock(wired, access_code_id=access.provider_id, method="keycode")
    events_reconcile(connection=wired.connection)
    with django_assert_max_num_queries(3):
        few = events_for_reservation(reservation)
    for _ in range(20):
        unlock(wired, access_code_id=access.provider_id, method="keycode")
        unlock(wired, method="manual")
    events_reconcile(connection=wired.connection)
    with django_assert_max_num_queries(3):
        many = events_for_reservation(reservation)
    assert len(many) > len(few)


def test_a_failed_reading_is_recorded_and_the_next_one_starts_where_it_left(wired):
    unlock(wired, method="manual")
    wired.fake.control("/outage", routes=["/events/list"])
    try:
        with pytest.raises(ProviderError):
            events_reconcile(connection=wired.connection)
    finally:
        wired.fake.control("/outage", routes=[])
    wired.connection.refresh_from_db()
    assert "unavailable" in wired.connection.last_event_error
    assert not LockEvent.objects.filter(kind=LockEvent.Kind.UNLOCKED).exists()
    assert "recorded" in reconcile_all_events()  # the periodic task, on every connection
    wired.connection.refresh_from_db()
    assert wired.connection.last_event_error == ""
    assert LockEvent.objects.filter(kind=LockEvent.Kind.UNLOCKED).count() == 1


def test_an_unlock_pushed_by_the_webhook_is_attributed_like_a_listed_one(wired, client):
    wired.connection.webhook_secret = SECRET
    wired.connection.save()
    reservation, access = programmed(wired, guest_name="Maria Silva")
    raw = unlock(wired, access_code_id=access.provider_id, method="keycode")  # Seam's own JSON
    body = json.dumps(raw)
    response = client.post(
        f"/webhooks/seam/{wired.connection.pk}/",
        data=body,
        content_type="application/json",
        **signed_headers(body),
    )
    assert response.json() == {"status": "recorded"}
    event = LockEvent.objects.get(kind=LockEvent.Kind.UNLOCKED)
    assert (event.reservation, event.who) == (reservation, "Maria Silva")
    # The reconcile lists the same event later: still one.
    events_reconcile(connection=wired.connection)
    assert LockEvent.objects.filter(kind=LockEvent.Kind.UNLOCKED).count() == 1


def test_an_unlock_reporting_the_digits_entered_is_attributed_by_them(wired):
    reservation, _ = programmed(wired, guest_name="Maria Silva", days_ahead=0, nights=2)
    digits = reservation.code.value
    unlock(wired, method="keycode", code=digits)  # some providers report no code id
    events_reconcile(connection=wired.connection)
    event = LockEvent.objects.get(kind=LockEvent.Kind.UNLOCKED)
    assert (event.reservation, event.who) == (reservation, "Maria Silva")
    assert digits not in str(event.payload)
