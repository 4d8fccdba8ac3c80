"""Every time on a list page is in the property's zone, its zone named: lock events and
device alerts (in the zone of the lock's listing), guest-message rows (the stay's)."""

import datetime

import pytest

from guests.models import GuestMessage
from reservations.models import DeviceAlert, LockEvent

pytestmark = pytest.mark.django_db

AT = datetime.datetime(2026, 12, 1, 15, 0, tzinfo=datetime.UTC)  # 10:00 in New York
LOCAL = "2026-12-01 10:00 EST"


@pytest.fixture
def new_york(org_a):
    org_a.property.time_zone = "America/New_York"
    org_a.property.save()
    return org_a


def test_lock_events_list_in_the_locks_local_time(manager_client, new_york):
    LockEvent.objects.create(
        organization=new_york.organization,
        connection=new_york.device.connection,
        device=new_york.device,
        provider_event_id="evt_1",
        event_type="lock.unlocked",
        kind=LockEvent.Kind.UNLOCKED,
        occurred_at=AT,
    )
    page = manager_client.get("/admin/reservations/lockevent/").content.decode()
    assert f">{LOCAL}<" in page and ">2026-12-01 15:00" not in page


def test_device_alerts_list_in_the_locks_local_time(manager_client, new_york):
    DeviceAlert.objects.create(
        organization=new_york.organization,
        device=new_york.device,
        kind=DeviceAlert.Kind.OFFLINE,
        message="Lock offline.",
        opened_at=AT,
        resolved_at=AT + datetime.timedelta(hours=1),
        resolution="Back online.",
    )
    page = manager_client.get("/admin/reservations/devicealert/").content.decode()
    assert LOCAL in page and "resolved 2026-12-01 11:00 EST" in page
    assert "15:00" not in page and "16:00" not in page


def test_guest_message_rows_are_in_one_zone(manager_client, new_york):
    message = GuestMessage.objects.create(
        organization=new_york.organization,
        reservation=new_york.reservation,
        kind="code",
        trigger=GuestMessage.Trigger.STAFF,
        state=GuestMessage.State.SENT,
        recipient="guest@example.com",
        sent_at=AT,
    )
    GuestMessage.objects.filter(pk=message.pk).update(created_at=AT)
    page = manager_client.get("/admin/guests/guestmessage/").content.decode()
    assert f">{LOCAL}<" in page  # created, in the zone of the row's other times
    assert "15:00" not in page
