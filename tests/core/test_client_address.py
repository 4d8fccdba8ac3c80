"""One rule decides a client's address for every limit (core.client_address): the guest
page's and the API's. A proxy setting that cannot be right is reported: by the deploy
check where the settings show it, and once in the log when a request shows it."""

import logging

import pytest
from django.core.cache import cache
from django.core.checks import Error, Warning
from django.test import override_settings
from django.urls import reverse

from core import checks, client_address
from guests.links import guest_path

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch):
    cache.clear()
    monkeypatch.setattr(client_address, "_warned_short_header", False)
    yield
    cache.clear()


def ids(problems) -> list[str]:
    return [problem.id for problem in problems]


def api_schema(client, remote, forwarded):
    # The schema is the API's one page open to anonymous callers, counted by address.
    return client.get(
        reverse("api:schema"), REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded
    ).status_code


def test_the_api_rate_counts_anonymous_callers_by_the_same_address_rule(client, settings):
    """An anonymous caller cannot pose as many by writing X-Forwarded-For: with no proxy
    counted, every request from one address counts for that address."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "2/minute"},
    }
    settings.KEYSTAY_NUM_PROXIES = 0
    statuses = [api_schema(client, "198.51.100.20", f"192.0.2.{n}") for n in range(3)]
    assert statuses == [200, 200, 429]
    # Behind one proxy, two clients of that proxy are counted apart.
    settings.KEYSTAY_NUM_PROXIES = 1
    cache.clear()
    statuses = [api_schema(client, "10.0.0.2", "192.0.2.1") for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert api_schema(client, "10.0.0.2", "192.0.2.2") == 200


def test_a_request_with_fewer_forwarded_entries_than_proxies_is_logged_once(
    org_a, client, settings, caplog
):
    settings.KEYSTAY_NUM_PROXIES = 2
    link = guest_path(org_a.reservation)
    with caplog.at_level(logging.WARNING, logger="core.client_address"):
        client.get(link, REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR="192.0.2.7")
        client.get(link, REMOTE_ADDR="198.51.100.9")
    warnings = [r for r in caplog.records if r.name == "core.client_address"]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "1 X-Forwarded-For entries, fewer than KEYSTAY_NUM_PROXIES=2" in message
    assert "192.0.2.7" not in message and "198.51.100.9" not in message


def test_a_full_header_is_not_reported(org_a, client, settings, caplog):
    settings.KEYSTAY_NUM_PROXIES = 1
    with caplog.at_level(logging.WARNING, logger="core.client_address"):
        client.get(
            guest_path(org_a.reservation), REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.7"
        )
    assert not [r for r in caplog.records if r.name == "core.client_address"]


def test_the_deploy_check_reports_proxy_settings_that_disagree(settings, monkeypatch):
    monkeypatch.delenv("WEB_BIND", raising=False)
    settings.KEYSTAY_NUM_PROXIES = 1
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert checks.proxy_settings_agree(None) == []  # production as shipped
    monkeypatch.setenv("WEB_BIND", "127.0.0.1")
    assert checks.proxy_settings_agree(None) == []  # only the proxy on this machine reaches it
    monkeypatch.setenv("WEB_BIND", "93.184.216.34")
    assert ids(checks.proxy_settings_agree(None)) == ["core.W003"]
    monkeypatch.delenv("WEB_BIND")
    settings.SECURE_PROXY_SSL_HEADER = None
    assert ids(checks.proxy_settings_agree(None)) == ["core.W001"]
    settings.KEYSTAY_NUM_PROXIES = 0
    assert checks.proxy_settings_agree(None) == []  # no proxy, as local runs
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    [shared] = checks.proxy_settings_agree(None)
    assert isinstance(shared, Warning) and shared.id == "core.W002"
    assert "every client would share the proxy's address" in shared.msg


def test_drf_and_keystay_must_count_the_same_proxies(settings):
    assert checks.proxy_count_is_one_rule(None) == []
    with override_settings(KEYSTAY_NUM_PROXIES=1):
        [problem] = checks.proxy_count_is_one_rule(None)
    assert isinstance(problem, Error) and problem.id == "core.E002"
    with override_settings(KEYSTAY_NUM_PROXIES=-1, REST_FRAMEWORK={"NUM_PROXIES": -1}):
        assert ids(checks.proxy_count_is_one_rule(None)) == ["core.E001"]
