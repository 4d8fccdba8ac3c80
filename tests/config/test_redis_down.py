"""Redis down (restarting, unreachable): a PMS's cancellation and a Seam webhook are still
saved and answered.

Redis holds the API's rate counts (the cache) and the task queue. Without it the request
goes through uncounted, and the work it makes waits in the database for the periodic
sweep instead of the queue (found by tests/drills/test_process_drills.py, where both turned
a saved cancellation into an error page). On PostgreSQL + Redis with real processes, the
drill checks that the code then leaves the lock once Redis is back.
"""

import json
import socket

import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.conf import Conf

from reservations import services
from reservations.models import LockAccess, LockEvent, Reservation
from tests.api.conftest import key_client
from tests.factories import ConnectionFactory, DeviceFactory
from tests.webhook_signing import SECRET, signed_headers


@pytest.fixture
def redis_down(settings, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"  # nothing listens there
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    }
    # django-q2 reads its configuration once: point its broker at the dead Redis, and
    # queue for real instead of running tasks inline as the test settings do.
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", url)
    monkeypatch.setattr(Conf, "SYNC", False)
    return url


@pytest.mark.django_db(transaction=True)
def test_a_cancellation_is_saved_and_answered_while_redis_is_down(org_a, redis_down):
    stay = org_a.reservation
    services.reservation_replan(reservation=stay)
    # Its code is on the lock (as the worker would have left it).
    LockAccess.objects.filter(reservation=stay).update(
        provider_id="access_code_on_the_lock", state=LockAccess.State.REQUESTED
    )
    client = key_client(org_a.organization)

    response = client.post(f"/api/v1/reservations/{stay.pk}/cancel/")

    assert response.status_code == 200, response.content
    assert Reservation.objects.get(pk=stay.pk).status == Reservation.Status.CANCELLED
    # The revocation waits in the database for the sweep, due now.
    (access,) = LockAccess.objects.filter(reservation=stay)
    assert access.wanted is False and access.reason == LockAccess.Reason.CANCELLED
    assert access.due_at <= timezone.now()


@pytest.mark.django_db
def test_queueing_work_while_redis_is_down_is_logged_not_raised(redis_down, caplog):
    services.enqueue_processing(12345)
    assert "Reservation 12345: work not queued" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_seam_webhook_is_recorded_and_answered_while_redis_is_down(client, org_a, redis_down):
    connection = ConnectionFactory(organization=org_a.organization, workspace_id="ws_1")
    connection.webhook_secret = SECRET
    connection.save()
    DeviceFactory(connection=connection, provider_device_id="lock_1", name="Front Door")
    stamp = timezone.now().strftime("%Y-%m-%dT%H:%M:%S.000Z")
    # A code event asks for a read-back of the lock, which cannot be queued now.
    body = json.dumps(
        {
            "event_id": "evt_1",
            "event_type": "access_code.set_on_device",
            "workspace_id": "ws_1",
            "device_id": "lock_1",
            "access_code_id": "access_code_unknown",
            "created_at": stamp,
            "occurred_at": stamp,
        }
    )

    response = client.post(
        reverse("seam_webhook", args=[connection.pk]),
        data=body,
        content_type="application/json",
        **signed_headers(body),
    )

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "recorded"
    assert LockEvent.objects.filter(connection=connection, provider_event_id="evt_1").exists()
