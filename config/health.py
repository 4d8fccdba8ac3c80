"""Health endpoints for load balancers, process supervisors and monitoring.

Three questions, three addresses, so that a backlog never takes the web out of service:

- `/healthz` (liveness): the process answers. Touches neither the database nor the
  broker: restart the process only when this fails.
- `/healthz/ready` (readiness, for the load balancer): this process can serve requests —
  the database answers a query and the task broker answers (Redis `PING` with
  `REDIS_URL`, the broker's table in the database otherwise). 503 when either fails.
- `/healthz/backlog` (monitoring): no lock step is overdue by more than
  `HEALTH_OVERDUE_SECONDS` (due, and no worker holds it). 503 when one is: the cluster is
  stopped or behind. Every web process would answer the same, which is why the load
  balancer must not use it.

Each answers a small JSON document that names checks and counts, never an error message,
a host or an id. They are served by a middleware placed first, before the host check, the
HTTPS redirect, sessions and CSRF: a load balancer probes the backend's own address over
plain HTTP, and the answer carries no URL built from the Host header.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

logger = logging.getLogger(__name__)

LIVE, READY, BACKLOG = "/healthz", "/healthz/ready", "/healthz/backlog"
# A broker that does not answer within this is as good as down for a probe.
BROKER_TIMEOUT_SECONDS = 2.0

_redis_clients: dict[str, object] = {}


def _check_database() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _redis_client(url: str):
    """One client per process with short timeouts: a probe must answer even when Redis
    hangs, and must not open a connection pool per request."""
    if url not in _redis_clients:
        import redis

        _redis_clients[url] = redis.Redis.from_url(
            url,
            socket_connect_timeout=BROKER_TIMEOUT_SECONDS,
            socket_timeout=BROKER_TIMEOUT_SECONDS,
        )
    return _redis_clients[url]


def _check_broker() -> str:
    """Ping django-q2's broker; returns its kind."""
    redis_url = settings.Q_CLUSTER.get("redis")
    if redis_url:
        _redis_client(redis_url).ping()
        return "redis"
    from django_q.models import OrmQ

    OrmQ.objects.using(settings.Q_CLUSTER.get("orm", "default")).exists()
    return "orm"


def _run(name: str, check: Callable[[], object]) -> bool:
    try:
        check()
    except Exception as error:
        # The reason goes to the log, never into the public answer.
        logger.warning("Health check %s failed: %s: %s", name, type(error).__name__, error)
        return False
    return True


def _answer(ok: bool, payload: dict) -> JsonResponse:
    response = JsonResponse(
        {"status": "ok" if ok else "fail", **payload}, status=200 if ok else 503
    )
    response["Cache-Control"] = "no-store"
    return response


def live() -> JsonResponse:
    return _answer(True, {})


def ready() -> JsonResponse:
    checks = {
        "database": _run("database", _check_database),
        "broker": _run("broker", _check_broker),
    }
    return _answer(
        all(checks.values()),
        {"checks": {name: "ok" if passed else "fail" for name, passed in checks.items()}},
    )


def backlog() -> JsonResponse:
    import datetime

    from reservations.selectors import overdue_steps

    now = timezone.now()
    threshold = settings.HEALTH_OVERDUE_SECONDS
    found = None

    def measure() -> None:
        nonlocal found
        found = overdue_steps(now=now, older_than=datetime.timedelta(seconds=threshold))

    if not _run("backlog", measure) or found is None:
        return _answer(False, {"checks": {"database": "fail"}})
    oldest = int((now - found.oldest_due_at).total_seconds()) if found.oldest_due_at else None
    return _answer(
        found.overdue == 0,
        {
            "overdue_steps": found.overdue,
            "oldest_overdue_seconds": oldest,
            "threshold_seconds": threshold,
        },
    )


ENDPOINTS = {LIVE: live, READY: ready, BACKLOG: backlog}


class HealthMiddleware:
    """Answers the health endpoints before any other middleware sees the request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        endpoint = ENDPOINTS.get(request.path_info.rstrip("/") or "/")
        if endpoint is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            response = JsonResponse({"status": "fail"}, status=405)
            response["Allow"] = "GET, HEAD"
            return response
        return endpoint()
