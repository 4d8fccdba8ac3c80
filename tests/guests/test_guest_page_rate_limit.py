"""The guest page's rate limit: per client address and per link, wrong links included, and
held across processes that share Django's cache (Redis)."""

import datetime
import json
import os
import subprocess
import sys
import uuid

import pytest
import redis
import time_machine
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings

from core.client_address import client_ip
from core.ratelimit import Rate
from guests.links import guest_path

pytestmark = pytest.mark.django_db

# Five seconds into a minute: every request of a test falls in one window of the limit.
START = datetime.datetime(2031, 1, 1, 0, 0, 5, tzinfo=datetime.UTC)
RATE = Rate.parse(settings.GUEST_PAGE_RATE)


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def get(client, path, ip="198.51.100.7", **extra):
    return client.get(path, REMOTE_ADDR=ip, **extra)


def test_the_rate_is_thirty_requests_a_minute_unless_configured():
    assert Rate(limit=30, period=60) == RATE
    assert Rate.parse("5 / hour") == Rate(limit=5, period=3600)
    with pytest.raises(ValueError, match="30/minute"):
        Rate.parse("lots")


def test_an_address_is_held_back_after_its_limit_wrong_links_included(org_a, client, clock):
    real = guest_path(org_a.reservation)
    for n in range(RATE.limit):
        assert get(client, f"/g/guess-{n}/").status_code == 404
    response = get(client, real)
    assert response.status_code == 429
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode().startswith("Too many requests.")
    assert org_a.reservation.guest_name not in response.content.decode()
    assert 0 < int(response["Retry-After"]) <= 60
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert response["Cache-Control"] == "no-store, private"
    # Someone else is not held back; the address is again after the minute.
    assert get(client, real, ip="198.51.100.8").status_code == 200
    clock.shift(datetime.timedelta(seconds=60))
    assert get(client, real).status_code == 200


def test_a_link_is_held_back_after_its_limit_from_any_address(org_a, org_b, client, clock):
    link = guest_path(org_a.reservation)
    for n in range(RATE.limit):
        assert get(client, link, ip=f"203.0.113.{n + 1}").status_code == 200
    assert get(client, link, ip="203.0.113.200").status_code == 429
    # That address may still open another link.
    assert get(client, guest_path(org_b.reservation), ip="203.0.113.200").status_code == 200


def test_behind_a_proxy_the_client_is_the_address_the_proxy_saw(org_a, client, clock, settings):
    settings.KEYSTAY_NUM_PROXIES = 1
    link = guest_path(org_a.reservation)
    proxy = "10.0.0.2"
    # A guesser cannot pose as many clients: only the proxy's own entry counts.
    for n in range(RATE.limit):
        forwarded = f"192.0.2.{n}, 203.0.113.9"
        response = get(client, f"/g/guess-{n}/", ip=proxy, HTTP_X_FORWARDED_FOR=forwarded)
        assert response.status_code == 404
    spoofed = "192.0.2.250, 203.0.113.9"
    assert get(client, link, ip=proxy, HTTP_X_FORWARDED_FOR=spoofed).status_code == 429
    # Another guest behind the same proxy is not held back with them.
    assert get(client, link, ip=proxy, HTTP_X_FORWARDED_FOR="203.0.113.10").status_code == 200


def test_the_client_address_is_read_from_the_right_of_x_forwarded_for(rf, settings):
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.1.1.1, 2.2.2.2, 3.3.3.3")
    settings.KEYSTAY_NUM_PROXIES = 0
    assert client_ip(request) == "10.0.0.2"  # no proxy: the header is the client's to write
    settings.KEYSTAY_NUM_PROXIES = 1
    assert client_ip(request) == "3.3.3.3"
    settings.KEYSTAY_NUM_PROXIES = 2
    assert client_ip(request) == "2.2.2.2"
    settings.KEYSTAY_NUM_PROXIES = 1
    assert client_ip(rf.get("/", REMOTE_ADDR="10.0.0.2")) == "10.0.0.2"


# Another process: its own Django, its own connection to Redis, the same clock as the test.
HAMMER = """
import json, os, sys
import django, time_machine
django.setup()
from django.test import Client, override_settings
from django.test.utils import setup_test_environment
setup_test_environment()
caches = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                      "LOCATION": os.environ["KS_REDIS"], "KEY_PREFIX": os.environ["KS_PREFIX"]}}
start = float(os.environ["KS_START"])
with time_machine.travel(start, tick=True), override_settings(CACHES=caches):
    client = Client(REMOTE_ADDR=os.environ["KS_IP"])
    statuses = [client.get(f"/g/guess-{os.getpid()}-{n}/").status_code
                for n in range(int(os.environ["KS_COUNT"]))]
print(json.dumps(statuses))
"""


def redis_cache(url, prefix):
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": prefix,
        }
    }


def test_the_limit_holds_across_processes_sharing_redis(org_a, client, redis_url):
    """Two other processes guess links at once from one address; together they get the
    limit, no more, and this process then finds that address held back."""
    server = redis.Redis.from_url(redis_url)
    assert server.ping()
    prefix = f"test-guest-page-{uuid.uuid4().hex}"
    per_process = RATE.limit // 2 + 5
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "KS_REDIS": redis_url,
        "KS_PREFIX": prefix,
        "KS_START": str(START.timestamp()),
        "KS_IP": "198.51.100.50",
        "KS_COUNT": str(per_process),
    }
    try:
        hammers = [
            subprocess.Popen(
                [sys.executable, "-c", HAMMER],
                cwd=settings.BASE_DIR,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        statuses = []
        for hammer in hammers:
            out, err = hammer.communicate(timeout=120)
            assert hammer.returncode == 0, err[-2000:]
            statuses += json.loads(out.strip().splitlines()[-1])
        assert statuses.count(404) == RATE.limit
        assert statuses.count(429) == 2 * per_process - RATE.limit

        link = guest_path(org_a.reservation)
        with (
            time_machine.travel(START + datetime.timedelta(seconds=20), tick=False),
            override_settings(CACHES=redis_cache(redis_url, prefix)),
        ):
            assert get(client, link, ip="198.51.100.50").status_code == 429
            assert get(client, link, ip="198.51.100.51").status_code == 200
    finally:
        for key in server.scan_iter(f"{prefix}:*"):
            server.delete(key)


def test_without_its_cache_the_page_still_opens(org_a, client, caplog):
    """A guest at the door is not locked out because the cache is down: the page opens and
    the outage is logged."""
    dead = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    link = guest_path(org_a.reservation)
    with override_settings(CACHES=dead):
        assert get(client, link).status_code == 200
    assert "Rate limit not applied: the cache is unavailable" in caplog.text
