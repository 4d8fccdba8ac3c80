"""No log line holds a guest page or invitation link whole: Django's request logging,
runserver's request lines and gunicorn's access log show the path with the token hidden."""

import contextlib
import io
import logging

import httpx
import pytest
from django.core.cache import cache
from django.core.servers.basehttp import WSGIRequestHandler

from core.log_privacy import MARKER, HideLinkTokens, hide_link_tokens
from guests.links import guest_path, link_regenerate
from properties import services
from tests.deploy import free_port, gunicorn, manage, production_env

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@contextlib.contextmanager
def console_output():
    """What the handler configured in LOGGING writes, as the process's output would."""
    [console] = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, HideLinkTokens) for f in handler.filters)
    ]
    written = io.StringIO()
    previous = console.setStream(written)
    try:
        yield written
    finally:
        console.setStream(previous)


def invitation_token(org) -> str:
    link = services.invitation_create(
        organization=org.organization,
        email="someone@example.com",
        role="staff",
        invited_by=org.manager,
        base_url="http://testserver",
    ).link
    return link.rstrip("/").rsplit("/", 1)[1]


def test_the_real_links_lose_their_token_and_keep_their_path(org_a):
    guest = guest_path(org_a.reservation)
    guest_token = guest.split("/")[2]
    invitation = f"/invitations/{invitation_token(org_a)}/"
    line = f'"GET {guest} HTTP/1.1" 200 "https://keystay.example.com{invitation}"'
    hidden = hide_link_tokens(line)
    assert hidden == (
        f'"GET /g/{MARKER}/ HTTP/1.1" 200 "https://keystay.example.com/invitations/{MARKER}/"'
    )
    assert guest_token not in hidden
    assert hide_link_tokens(hidden) == hidden
    # Other paths are left alone, and so is a query string after a token.
    assert hide_link_tokens("GET /admin/guests/link/7/regenerate/") == (
        "GET /admin/guests/link/7/regenerate/"
    )
    assert hide_link_tokens("/g/abc?x=1") == f"/g/{MARKER}?x=1"


def test_django_request_log_lines_hide_guest_and_invitation_tokens(org_a, client):
    # A guest link replaced since (a 404), a spent invitation (a 410), a guesser held back
    # on a real link (429): Django logs each with its path.
    old_guest = guest_path(org_a.reservation)
    link_regenerate(reservation=org_a.reservation)
    spent = invitation_token(org_a)
    invitation_token(org_a)  # a new invitation to the same address revokes the first
    with console_output() as output:
        assert client.get(old_guest).status_code == 404
        assert client.get(f"/invitations/{spent}/").status_code == 410
        real = guest_path(org_a.reservation)
        statuses = {client.get(real).status_code for _ in range(31)}
        assert statuses == {200, 429}
    written = output.getvalue()
    assert f"Not Found: /g/{MARKER}/" in written
    assert f"Gone: /invitations/{MARKER}/" in written
    assert f"Too Many Requests: /g/{MARKER}/" in written
    for token in (old_guest.split("/")[2], spent, real.split("/")[2]):
        assert token not in written


def test_runserver_request_lines_hide_tokens(org_a):
    path = guest_path(org_a.reservation)
    handler = WSGIRequestHandler.__new__(WSGIRequestHandler)  # its log_message, alone
    handler.request = None
    with console_output() as output:
        handler.log_message('"%s" %s %s', f"GET {path} HTTP/1.1", "200", "1234")
    assert f'"GET /g/{MARKER}/ HTTP/1.1" 200 1234' in output.getvalue()
    assert path.split("/")[2] not in output.getvalue()


@pytest.mark.slow
def test_gunicorn_access_and_app_logs_hide_tokens(tmp_path):
    env = production_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'none.sqlite3'}",
        DJANGO_STATIC_ROOT=str(tmp_path / "static"),
    )
    manage("collectstatic", "--noinput", env=env)  # the guest page's stylesheet
    port = free_port()
    web = gunicorn("web", env=env, log_dir=tmp_path, port=port)
    base = f"http://127.0.0.1:{port}"
    guest_token = "eyJsaW5rIjoxfQ:1t2u3v:guest-token-that-must-not-be-logged"
    invitation = "invitation-token-that-must-not-be-logged"
    proxied = {"Host": "keystay.example.com", "X-Forwarded-Proto": "https"}
    try:
        # Plain HTTP (redirected to HTTPS) and through the proxy (a link that opens nothing).
        httpx.get(f"{base}/invitations/{invitation}/", headers={"Host": "keystay.example.com"})
        referer = f"https://keystay.example.com/invitations/{invitation}/"
        answer = httpx.get(f"{base}/g/{guest_token}/", headers={**proxied, "Referer": referer})
        assert answer.status_code == 404
    finally:
        web.stop()
    output = web.output(20000)
    assert f'"GET /invitations/{MARKER}/ HTTP/1.1" 301' in output
    assert f'"GET /g/{MARKER}/ HTTP/1.1" 404' in output
    assert f'"{referer.replace(invitation, MARKER)}"' in output  # the Referer, too
    assert "WARNING django.request [" in output and f"Not Found: /g/{MARKER}/" in output
    assert guest_token not in output
    assert invitation not in output
