"""Keystay calls only the Seam servers its operator allows (SEAM_ALLOWED_ENDPOINTS).

A connection's endpoint is typed by a manager; the server then calls it and shows parts
of the answer. Each test runs a loopback "internal service" that records every request,
to prove that nothing was sent to it.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from django.urls import reverse

from core import outbound
from locks.endpoints import DEFAULT_ENDPOINT, endpoint_allowed, origin
from locks.gateway import ProviderError, SeamGateway
from locks.models import LockProviderConnection
from tests.api.conftest import key_client
from tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db

SEAM = "https://connect.getseam.com"


class Recorder:
    """A loopback HTTP server that answers every request with `status` (and `location`)."""

    def __init__(self, status: int = 200, location: str = ""):
        self.requests: list[str] = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                recorder.requests.append(f"{self.command} {self.path}")
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                body = b'{"error": {"type": "x", "message": "internal secret"}}'
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def internal() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.stop()


# --- the rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        SEAM,
        f"{SEAM}/",
        f"{SEAM}:443",
        "HTTPS://CONNECT.GETSEAM.COM",
        "https://connect.getseam.com.",  # the same host, fully qualified
        f"{SEAM}/some/path?x=1",
        "",  # empty: Seam's own API
    ],
)
def test_seams_own_origin_is_allowed_however_it_is_spelled(settings, url):
    settings.SEAM_ALLOWED_ENDPOINTS = [SEAM]
    assert endpoint_allowed(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://connect.getseam.com.evil.com",
        "https://connect.getseam.com@evil.com",
        "https://connect.getseam.com@evil",
        "https://user:secret@connect.getseam.com",  # userinfo is refused outright
        "https://connect.getseam.com\\@evil.com",
        "http://connect.getseam.com",  # another scheme
        "https://connect.getseam.com:8443",  # another port
        "https://connect.getseam.co",
        "https://evil.com/connect.getseam.com",
        "http://127.0.0.1:8080/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "ftp://connect.getseam.com",
        "//connect.getseam.com",
        "https:connect.getseam.com",
        "not a url",
    ],
)
def test_anything_else_is_refused(settings, url):
    settings.SEAM_ALLOWED_ENDPOINTS = [SEAM]
    assert not endpoint_allowed(url)


def test_default_ports_are_normalised_both_ways(settings):
    settings.SEAM_ALLOWED_ENDPOINTS = ["https://seam.example.com:443/", "http://10.0.0.5:80"]
    assert endpoint_allowed("https://seam.example.com")
    assert endpoint_allowed("http://10.0.0.5/api")
    assert not endpoint_allowed("http://10.0.0.5:8080")
    assert not endpoint_allowed(SEAM)  # not listed any more: refused too
    assert origin("https://seam.example.com") == ("https", "seam.example.com", 443)


def test_production_default_allows_seam_alone():
    from config.settings import base

    assert base.SEAM_ALLOWED_ENDPOINTS == [DEFAULT_ENDPOINT]


# --- before a connection exists: the form and the API ---------------------------------------


def test_the_smart_devices_form_refuses_an_internal_endpoint(manager_client, org_a, internal):
    response = manager_client.post(
        reverse("smart_devices:add"),
        {
            "organization": org_a.organization.pk,
            "name": "Probe",
            "api_key": "seam_x_token",
            "endpoint": f"{internal.url}/anything",
        },
    )
    assert response.status_code == 200
    errors = response.context["add_form"].errors
    assert "Keystay does not call this server" in errors["endpoint"][0]
    assert "internal secret" not in response.content.decode()
    assert internal.requests == []
    assert not LockProviderConnection.objects.filter(name="Probe").exists()


@pytest.mark.parametrize("suffix", ["", ".evil.com", "@evil.com"])
def test_the_api_refuses_an_endpoint_that_is_not_allowed(org_a, internal, suffix):
    endpoint = internal.url if not suffix else f"{SEAM}{suffix}"
    response = key_client(org_a.organization, "manager").post(
        "/api/v1/connections/", {"name": "Probe", "api_key": "seam_x_token", "endpoint": endpoint}
    )
    assert response.status_code == 400
    assert list(response.json()) == ["endpoint"]
    assert "internal secret" not in response.content.decode()
    assert internal.requests == []


# --- when a stored connection is used -----------------------------------------------------


def test_a_stored_endpoint_no_longer_allowed_sends_nothing(org_a, internal):
    connection = ConnectionFactory(organization=org_a.organization, endpoint=internal.url)
    connection.set_api_key("seam_x_token")
    connection.save()
    with pytest.raises(ProviderError) as raised:
        SeamGateway.for_connection(connection)
    assert raised.value.code == "endpoint_not_allowed"
    assert not raised.value.retryable
    assert "SEAM_ALLOWED_ENDPOINTS" in raised.value.message
    assert internal.requests == []


def test_a_redirect_is_not_followed(settings, internal):
    redirecting = Recorder(status=302, location=f"{internal.url}/devices/list")
    try:
        settings.SEAM_ALLOWED_ENDPOINTS = [SEAM, redirecting.url]
        with (
            SeamGateway(api_key="seam_x_token", endpoint=redirecting.url) as gateway,
            pytest.raises(ProviderError),
        ):
            gateway.check_credentials()
        assert redirecting.requests  # the allowed server was asked...
        assert internal.requests == []  # ...and where it pointed was not
    finally:
        redirecting.stop()


# --- every call goes through the outbound guard ------------------------------------------
#
# The list says which origins; the guard (core.outbound) resolves the name before each call,
# checks every address and connects to the checked one. "seam.test" exists only in the
# resolver each test installs: reaching a server under that name proves the connection went
# to the address the guard checked, not to a lookup of the HTTP library's own.


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_a_listed_name_that_resolves_to_loopback_is_not_called(settings, internal):
    listed = f"http://seam.test:{_port(internal.url)}"
    settings.SEAM_ALLOWED_ENDPOINTS = [SEAM, listed]
    with (
        outbound.resolver_override({"seam.test": ["127.0.0.1"]}),
        SeamGateway(api_key="seam_x_token", endpoint=listed) as gateway,
        pytest.raises(ProviderError) as raised,
    ):
        gateway.check_credentials()
    assert raised.value.code == "address_refused"
    assert raised.value.retryable  # DNS may be put right: tried again, shown meanwhile
    assert "seam.test: it resolves to a loopback address" in raised.value.message
    assert internal.requests == []


def test_a_listed_name_may_reach_a_private_server_when_the_deployment_allows_it(
    settings, fake_seam
):
    fake_seam.reset()
    listed = f"http://seam.test:{_port(fake_seam.url)}"
    settings.SEAM_ALLOWED_ENDPOINTS = [SEAM, listed]
    settings.KEYSTAY_OUTBOUND_ALLOW_PRIVATE = True
    looked_up = []

    def resolver(host, port):
        looked_up.append(host)
        return ["127.0.0.1"]

    with (
        outbound.resolver_override(resolver),
        SeamGateway(api_key=fake_seam.api_key, endpoint=listed) as gateway,
    ):
        workspace = gateway.check_credentials()
        devices = gateway.list_lock_devices()
    assert workspace.workspace_id == fake_seam.workspace_id
    assert devices
    # Looked up before each of the calls, never once for all of them.
    assert looked_up == ["seam.test"] * len(looked_up) and len(looked_up) >= 3


def test_a_name_that_turns_to_a_metadata_address_between_two_calls_is_not_called(
    settings, fake_seam
):
    fake_seam.reset()
    listed = f"http://seam.test:{_port(fake_seam.url)}"
    settings.SEAM_ALLOWED_ENDPOINTS = [SEAM, listed]
    settings.KEYSTAY_OUTBOUND_ALLOW_PRIVATE = True
    answers = {"seam.test": ["127.0.0.1"]}
    with (
        outbound.resolver_override(lambda host, port: list(answers[host])),
        SeamGateway(api_key=fake_seam.api_key, endpoint=listed) as gateway,
    ):
        assert gateway.list_lock_devices()
        fake_seam.requests(clear=True)
        answers["seam.test"] = ["127.0.0.1", "169.254.169.254"]  # DNS rebinding
        with pytest.raises(ProviderError) as raised:
            gateway.list_lock_devices()
    assert raised.value.code == "address_refused"
    assert "link-local" in raised.value.message or "metadata" in raised.value.message
    assert fake_seam.requests() == {}


@pytest.mark.parametrize("listed", ["http://169.254.169.254", "http://[fe80::1]:8080"])
def test_a_link_local_origin_is_not_called_even_when_listed(settings, listed):
    settings.SEAM_ALLOWED_ENDPOINTS = [SEAM, listed]
    settings.KEYSTAY_OUTBOUND_ALLOW_PRIVATE = True
    with (
        SeamGateway(api_key="seam_x_token", endpoint=listed) as gateway,
        pytest.raises(ProviderError) as raised,
    ):
        gateway.check_credentials()
    assert raised.value.code == "address_refused"


def test_a_server_listed_by_its_address_may_be_on_loopback(settings, fake_seam):
    """The operator wrote that address down: the tests' fake and a self-hosted server."""
    fake_seam.reset()
    assert settings.KEYSTAY_OUTBOUND_ALLOW_PRIVATE is False
    with SeamGateway(api_key=fake_seam.api_key, endpoint=fake_seam.url) as gateway:
        assert gateway.list_lock_devices()


def test_a_listed_name_that_does_not_resolve_is_a_failure_tried_again(settings):
    listed = "https://seam.test"
    settings.SEAM_ALLOWED_ENDPOINTS = [SEAM, listed]
    with (
        outbound.resolver_override({}),
        SeamGateway(api_key="seam_x_token", endpoint=listed) as gateway,
        pytest.raises(ProviderError) as raised,
    ):
        gateway.check_credentials()
    assert raised.value.kind == "unavailable"
    assert "did not resolve" in raised.value.message


def test_the_client_calls_no_other_origin_than_its_own(settings, fake_seam, internal):
    fake_seam.reset()
    with SeamGateway(api_key=fake_seam.api_key, endpoint=fake_seam.url) as gateway:
        client = gateway._client.client
        with pytest.raises(outbound.OutboundRefused):
            client.post(f"{internal.url}/devices/list", json={})
    assert internal.requests == []
