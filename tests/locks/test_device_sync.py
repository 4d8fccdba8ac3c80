"""Importing a Seam workspace's locks and access-control entrances, against Seam's fake."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection as db_connection

from locks.gateway import ProviderError
from locks.models import Device, LockProviderConnection
from locks.selectors import assignments_flagged
from locks.services import connection_create, connection_request_sync, devices_sync
from locks.tasks import sync_all_connections
from tests.factories import LockAssignmentFactory

pytestmark = pytest.mark.django_db

SEEDED_LOCKS = {
    "Fake August Lock 1",
    "Fake August Lock 2",
    "Bathroom Door",
    "Garden Gate",
    "Side Door",
    "Pool House",
}
SEEDED_ENTRANCES = {"Building Front Entrance", "Garage Gate"}


@pytest.fixture
def fake(fake_seam):
    fake_seam.reset()
    return fake_seam


@pytest.fixture
def connection(fake, org_a):
    return connection_create(
        organization=org_a.organization,
        name="Main workspace",
        api_key=fake.api_key,
        endpoint=fake.url,
    )


def snapshot(conn):
    return sorted(
        Device.objects.filter(connection=conn).values_list(
            "provider_device_id", "name", "online", "battery_level", "removed_at", "last_synced_at"
        )
    )


def test_connection_imports_seeded_locks_and_access_control_entrances(connection, fake):
    result = devices_sync(connection=connection)
    devices = {d.name: d for d in connection.devices.all()}
    assert set(devices) == SEEDED_LOCKS | SEEDED_ENTRANCES  # no thermostat, no sensor
    assert len(result.created) == 8
    gate = devices["Garden Gate"]
    assert gate.kind == Device.Kind.LOCK
    assert (gate.manufacturer, gate.model) == ("Yale", "Yale Assure Lock 2")
    assert gate.supported_code_lengths == [4, 5, 6]
    assert {c["constraint_type"] for c in gate.code_constraints} >= {
        "cannot_start_with_12",
        "no_ascending_or_descending_sequence",
    }
    assert gate.max_active_codes == 25 and gate.battery_percent == 82
    assert gate.supports_native_scheduling
    assert devices["Side Door"].battery_percent == 12
    assert devices["Pool House"].online is False
    entrance = devices["Garage Gate"]
    assert entrance.kind == Device.Kind.ACS_ENTRANCE
    assert entrance.provider_system_id == fake.seed["acs_system_id"]
    assert entrance.organization == connection.organization
    connection.refresh_from_db()
    assert connection.sync_state == LockProviderConnection.SyncState.OK
    assert connection.sync_done == connection.sync_total == 8
    assert connection.accounts.count() >= 1


def test_a_second_import_changes_nothing(connection):
    devices_sync(connection=connection)
    before = snapshot(connection)
    result = devices_sync(connection=connection)
    assert not result.changed
    assert result.unchanged == 8
    assert snapshot(connection) == before


def test_an_import_updates_what_changed_at_the_provider(connection, fake):
    devices_sync(connection=connection)
    fake.control(
        "/devices/update", device_id="keystay_lock_constrained", online=False, battery_level=0.3
    )
    result = devices_sync(connection=connection)
    assert result.updated == ["Garden Gate"]
    gate = connection.devices.get(name="Garden Gate")
    assert (gate.online, gate.battery_percent) == (False, 30)


def test_a_device_removed_at_the_provider_is_marked_and_its_assignments_flagged(
    connection, fake, org_a
):
    devices_sync(connection=connection)
    side_door = connection.devices.get(name="Side Door")
    assignment = LockAssignmentFactory(listing=org_a.listing, device=side_door)
    fake.control("/devices/remove", device_id="keystay_lock_low_battery")
    result = devices_sync(connection=connection)
    assert result.removed == ["Side Door"]
    side_door.refresh_from_db()
    assert side_door.removed_at is not None
    assignment.refresh_from_db()  # never silently deleted
    assert list(assignments_flagged(user=org_a.manager)) == [assignment]
    # Removing again changes nothing; a device back at the provider is restored.
    assert not devices_sync(connection=connection).changed


def test_a_bad_api_key_is_refused_and_nothing_is_saved(fake, org_a):
    with pytest.raises(ProviderError) as error:
        connection_create(
            organization=org_a.organization,
            name="Typo",
            api_key="seam_bad_key_0000",
            endpoint=fake.url,
        )
    assert error.value.kind == "unauthorized"
    assert "refused the API key" in error.value.message
    assert not LockProviderConnection.objects.filter(name="Typo").exists()


def test_the_stored_api_key_is_not_readable_as_plain_text(connection, fake):
    with db_connection.cursor() as cursor:
        cursor.execute(
            "SELECT api_key_ciphertext, api_key_last4 FROM locks_lockproviderconnection "
            "WHERE id = %s",
            [connection.pk],
        )
        ciphertext, last4 = cursor.fetchone()
    assert fake.api_key not in ciphertext
    assert last4 == fake.api_key[-4:]
    assert LockProviderConnection.objects.get(pk=connection.pk).api_key == fake.api_key


def test_an_outage_keeps_everything_imported_and_records_the_error(connection, fake):
    devices_sync(connection=connection)
    before = snapshot(connection)
    fake.control("/outage", routes=["/locks/list", "/devices/list"])
    try:
        with pytest.raises(ProviderError) as error:
            devices_sync(connection=connection)
    finally:
        fake.control("/outage", routes=[])
    assert error.value.kind == "unavailable"
    assert snapshot(connection) == before
    connection.refresh_from_db()
    assert connection.sync_state == LockProviderConnection.SyncState.FAILED
    assert "unavailable" in connection.last_sync_error
    devices_sync(connection=connection)  # after recovery, all is well again
    connection.refresh_from_db()
    assert connection.sync_state == LockProviderConnection.SyncState.OK
    assert connection.last_sync_error == ""


def test_a_requested_import_runs_on_the_task_queue_after_commit(
    connection, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        connection_request_sync(connection=connection)
        connection.refresh_from_db()
        assert connection.sync_state == LockProviderConnection.SyncState.QUEUED
    connection.refresh_from_db()
    assert connection.sync_state == LockProviderConnection.SyncState.OK
    assert connection.devices.count() == 8


def test_one_failing_connection_does_not_hold_up_the_others(connection, org_b, fake):
    broken = LockProviderConnection(
        organization=org_b.organization, name="Revoked", endpoint=fake.url
    )
    broken.set_api_key("seam_revoked_key")
    broken.save()
    summary = sync_all_connections()
    assert "refused the API key" in summary
    assert connection.devices.count() == 8
    broken.refresh_from_db()
    assert broken.sync_state == LockProviderConnection.SyncState.FAILED


def test_sync_devices_command(connection, fake, capsys):
    # org_a also has a factory-made connection without a key: it fails, the others go on.
    with pytest.raises(CommandError, match="1 connection"):
        call_command("sync_devices", "--organization", connection.organization.name)
    output = capsys.readouterr()
    assert "Main workspace: 8 new" in output.out
    assert "No API key is stored" in output.err
    with pytest.raises(CommandError, match="No connection"):
        call_command("sync_devices", "--organization", "Nobody Lets")
    for other in connection.organization.connections.exclude(pk=connection.pk):
        other.set_api_key(fake.api_key)
        other.endpoint = fake.url
        other.save()
    call_command("sync_devices")
    assert "Main workspace: 0 new, 0 updated, 8 unchanged" in capsys.readouterr().out
