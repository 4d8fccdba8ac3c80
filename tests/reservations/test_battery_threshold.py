"""A battery is low under its organization's threshold, the same on every surface."""

import pytest
from django.urls import reverse

from reservations.events import alerts_sync_from_devices
from reservations.models import DeviceAlert

pytestmark = pytest.mark.django_db


def set_threshold(org, percent):
    org.organization.low_battery_percent = percent
    org.organization.save(update_fields=["low_battery_percent"])


def test_the_organizations_threshold_decides_the_alert_and_the_admin_filter(org_a, manager_client):
    device = org_a.device
    device.battery_level = 0.25
    device.save()
    alerts_sync_from_devices(connection=device.connection)
    assert not DeviceAlert.objects.filter(kind=DeviceAlert.Kind.LOW_BATTERY).exists()
    low = manager_client.get(reverse("admin:locks_device_changelist"), {"battery": "low"})
    assert device.name not in low.content.decode()

    set_threshold(org_a, 30)
    alerts_sync_from_devices(connection=device.connection)
    alert = DeviceAlert.objects.get(kind=DeviceAlert.Kind.LOW_BATTERY, device=device)
    assert alert.resolved_at is None and "25%" in alert.message
    low = manager_client.get(reverse("admin:locks_device_changelist"), {"battery": "low"})
    assert device.name in low.content.decode()
