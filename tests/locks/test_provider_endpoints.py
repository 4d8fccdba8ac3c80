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
