"""A lock's lease and its write budget (locks/pacing.py), as every worker sees them."""

import datetime

import pytest
import time_machine
from django.utils import timezone

from locks import pacing
from locks.models import Device
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def device():
    return DeviceFactory()


def test_one_worker_at_a_time_holds_a_lock(device):
    token = pacing.lease_take(device.pk)

    assert token
    assert pacing.lease_take(device.pk) is None  # another worker keeps off
    assert pacing.lease_take(DeviceFactory().pk)  # another lock is free
    pacing.lease_release(device.pk, "someone else's token")
    assert pacing.lease_take(device.pk) is None
    pacing.lease_release(device.pk, token)
    assert pacing.lease_take(device.pk)


def test_a_lease_runs_out_so_that_a_dead_workers_lock_is_taken_over(device):
    token = pacing.lease_take(device.pk)
    with time_machine.travel(timezone.now() + pacing.LEASE + datetime.timedelta(seconds=1)):
        assert pacing.lease_renew(device.pk, token)  # not taken yet: the holder goes on
    with time_machine.travel(timezone.now() + 2 * pacing.LEASE + datetime.timedelta(seconds=2)):
        other = pacing.lease_take(device.pk)
        assert other
        assert not pacing.lease_renew(device.pk, token)  # the first worker must stop


def test_saving_a_device_read_earlier_leaves_the_lease_alone(device):
    stale = Device.objects.get(pk=device.pk)
    token = pacing.lease_take(device.pk)
    pacing.write_take(device.pk, "create")

    stale.name = "Front door (renamed)"
    stale.save()

    device.refresh_from_db()
    assert device.name == "Front door (renamed)"
    assert device.lease_token == token and device.lease_until is not None
    assert len(device.recent_writes["create"]) == 1


def test_the_eleventh_create_in_a_minute_waits_for_the_first_to_age(device):
    start = timezone.now().replace(microsecond=0)
    for second in range(10):
        with time_machine.travel(start + datetime.timedelta(seconds=second), tick=False):
            pacing.write_take(device.pk, "create")

    with time_machine.travel(start + datetime.timedelta(seconds=30), tick=False):
        with pytest.raises(pacing.Paced) as paced:
            pacing.write_take(device.pk, "create")
        pacing.write_take(device.pk, "delete")  # a budget of its own
        pacing.write_take(device.pk, "update")
        pacing.write_take(DeviceFactory().pk, "create")  # another lock's own
    assert paced.value.until == start + datetime.timedelta(seconds=61)
    assert paced.value.kind == "paced" and "10 code creates a minute" in paced.value.message

    # Then the first two have aged (a minute and a second): two more, not three.
    with time_machine.travel(start + datetime.timedelta(seconds=61), tick=False):
        pacing.write_take(device.pk, "create")
        pacing.write_take(device.pk, "create")
        with pytest.raises(pacing.Paced) as paced:
            pacing.write_take(device.pk, "create")
    assert paced.value.until == start + datetime.timedelta(seconds=63)


def test_twenty_deletes_a_minute(device):
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        for _ in range(20):
            pacing.write_take(device.pk, "delete")
        with pytest.raises(pacing.Paced):
            pacing.write_take(device.pk, "delete")


def test_writes_stamped_by_a_clock_that_went_back_say_nothing_about_this_minute(device):
    later = timezone.now() + datetime.timedelta(days=2)
    with time_machine.travel(later, tick=False):
        for _ in range(10):
            pacing.write_take(device.pk, "create")
    pacing.write_take(device.pk, "create")  # now, two days "before" those


def test_writes_counted_from_a_stale_reading_of_the_lock_still_keep_its_limit(device):
    """A worker counts its write from the lock's row as it read it; another worker's
    writes made since are not lost, nor is the limit passed."""
    start = timezone.now().replace(microsecond=0)
    read_before = Device.objects.get(pk=device.pk).recent_writes  # nothing written yet
    with time_machine.travel(start, tick=False):
        seen = pacing.write_take(device.pk, "create", seen=read_before)  # one statement
        assert len(seen["create"]) == 1
        for _ in range(9):  # another worker fills the minute meanwhile
            pacing.write_take(device.pk, "create")
        with pytest.raises(pacing.Paced):
            pacing.write_take(device.pk, "create", seen=seen)
        with pytest.raises(pacing.Paced):
            pacing.write_take(device.pk, "create", seen=read_before)
    device.refresh_from_db()
    assert len(device.recent_writes["create"]) == 10
