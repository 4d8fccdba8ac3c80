"""Health endpoints: liveness, readiness (database and broker) and the lock-step backlog."""

import datetime
import socket

import pytest
from django.utils import timezone

from reservations import services
from reservations.models import LockAccess


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_liveness_answers_without_touching_the_database(client):
    # No database for this test: any query would raise.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_readiness_checks_the_database_and_the_broker(client):
    response = client.get("/healthz/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


@pytest.mark.django_db
def test_readiness_fails_when_redis_does_not_answer_and_says_nothing_of_where_it_is(
    client, settings
):
    port = _closed_port()
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "redis": f"redis://127.0.0.1:{port}/0"}
    response = client.get("/healthz/ready")
    assert response.status_code == 503
    assert response.json() == {"status": "fail", "checks": {"database": "ok", "broker": "fail"}}
    assert str(port) not in response.content.decode()


@pytest.mark.django_db
def test_probes_by_any_host_over_plain_http_are_answered_not_redirected(client, settings):
    # What a load balancer does: the backend's own address, no X-Forwarded-Proto.
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["keystay.example.com"]
    for path in ("/healthz", "/healthz/ready", "/healthz/backlog", "/healthz/ready/"):
        response = client.get(path, HTTP_HOST="10.0.0.7:8000")
        assert response.status_code == 200, path
    # Everything else still goes through the host check and the HTTPS redirect.
    assert client.get("/admin/", HTTP_HOST="10.0.0.7:8000").status_code == 400
    assert client.get("/admin/", HTTP_HOST="keystay.example.com").status_code == 301


def test_health_endpoints_only_read(client):
    response = client.post("/healthz/ready")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


def _step(org, *, due_ago: datetime.timedelta, **values) -> LockAccess:
    services.reservation_replan(reservation=org.reservation)
    access = org.reservation.lock_accesses.get()
    LockAccess.objects.filter(pk=access.pk).update(due_at=timezone.now() - due_ago, **values)
    return access


def test_backlog_is_fine_while_due_steps_are_recent(client, org_a, settings):
    settings.HEALTH_OVERDUE_SECONDS = 300
    _step(org_a, due_ago=datetime.timedelta(minutes=2))
    response = client.get("/healthz/backlog")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "overdue_steps": 0,
        "oldest_overdue_seconds": None,
        "threshold_seconds": 300,
    }


def test_backlog_fails_on_a_step_overdue_that_no_worker_holds(client, org_a, org_b, settings):
    settings.HEALTH_OVERDUE_SECONDS = 300
    _step(org_a, due_ago=datetime.timedelta(minutes=10))
    _step(org_b, due_ago=datetime.timedelta(minutes=7))
    response = client.get("/healthz/backlog")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["overdue_steps"] == 2
    assert 600 <= body["oldest_overdue_seconds"] < 660
    # Counts and ages only: no id, organization or lock.
    assert set(body) == {"status", "overdue_steps", "oldest_overdue_seconds", "threshold_seconds"}


def test_backlog_leaves_out_steps_a_worker_holds_and_locks_the_provider_holds_back(
    client, org_a, org_b, settings
):
    now = timezone.now()
    # A worker holds this one (its lease has not run out)...
    _step(
        org_a,
        due_ago=datetime.timedelta(minutes=10),
        claimed_until=now + datetime.timedelta(minutes=1),
        claim_token="worker",
    )
    # ...and the provider asked Keystay to wait on this lock (a rate limit).
    _step(org_b, due_ago=datetime.timedelta(minutes=10))
    org_b.device.backoff_until = now + datetime.timedelta(minutes=5)
    org_b.device.save(update_fields=["backoff_until"])
    assert client.get("/healthz/backlog").status_code == 200

    # A lease that ran out (its worker died) counts again.
    LockAccess.objects.filter(reservation=org_a.reservation).update(
        claimed_until=now - datetime.timedelta(seconds=1)
    )
    response = client.get("/healthz/backlog")
    assert response.status_code == 503
    assert response.json()["overdue_steps"] == 1
