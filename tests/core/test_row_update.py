"""The one-row compare-and-set behind a lock's lease and a step's claim: it writes only a
row that meets every condition, and what it writes reads back as the ORM's own writes."""

import datetime

import pytest
from django.utils import timezone

from core.row_update import update_row
from locks.models import Device
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)
SECOND = datetime.timedelta(seconds=1)


def test_a_row_is_written_only_when_every_condition_holds(org_a):
    device = DeviceFactory(connection__organization=org_a.organization, lease_token="")

    def take(token, *, now=NOW):
        return update_row(
            Device,
            device.pk,
            values={"lease_until": now + 60 * SECOND, "lease_token": token},
            before={"lease_until": now},
            by={"backoff_until": now},
        )

    assert take("first")
    assert not take("second")  # held until NOW + 60 s
    assert take("third", now=NOW + 61 * SECOND)  # ran out
    assert not update_row(
        Device, device.pk, values={"lease_token": ""}, equal={"lease_token": "x"}
    )
    Device.objects.filter(pk=device.pk).update(backoff_until=NOW + 200 * SECOND, lease_until=None)
    assert not take("paused", now=NOW + 100 * SECOND)
    assert take("pause over", now=NOW + 200 * SECOND)  # a pause ends at its instant
    device.refresh_from_db()
    assert device.lease_token == "pause over" and device.lease_until == NOW + 260 * SECOND


def test_what_it_writes_matches_the_orms_equality_and_null_conditions(org_a):
    device = DeviceFactory(connection__organization=org_a.organization)
    at = timezone.now()  # with microseconds: SQLite keeps datetimes as text
    assert update_row(Device, device.pk, values={"lease_until": at}, equal={"backoff_until": None})
    assert Device.objects.filter(pk=device.pk, lease_until=at).exists()
    assert update_row(Device, device.pk, values={"lease_until": None}, equal={"lease_until": at})
    assert not update_row(
        Device, device.pk, values={"lease_token": "t"}, reached={"lease_until": at}
    )
    device.refresh_from_db()
    assert device.lease_until is None and device.lease_token != "t"
