"""Every page of the admin and Keystay's own pages carries a Content-Security-Policy:
scripts and <style> elements only from this site or with the response's nonce. The guest
page and the API docs keep the policies they set themselves."""

import re

import pytest
from django.urls import reverse

from api.urls import DOCS_CONTENT_SECURITY_POLICY

pytestmark = pytest.mark.django_db


def directives(response) -> dict[str, str]:
    policy = response["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())


@pytest.mark.parametrize(
    "url",
    [
        lambda org: reverse("admin:index"),
        lambda org: reverse("dashboard"),
        lambda org: reverse("listing_timeline", args=[org.listing.pk]),
        lambda org: reverse("activity_feed"),
        lambda org: "/admin/smart-devices/",
        lambda org: reverse("two_factor_setup"),
        lambda org: "/api/v1/properties/",
    ],
)
def test_keystays_pages_run_only_their_own_or_nonced_code(manager_client, org_a, url):
    assert_own_code_only(manager_client.get(url(org_a), HTTP_ACCEPT="text/html"))


@pytest.mark.parametrize("name", ["admin:login", "admin_password_reset"])
def test_pages_before_sign_in_too(client, name):
    assert_own_code_only(client.get(reverse(name)))


def assert_own_code_only(response):
    assert response.status_code == 200
    policy = directives(response)
    assert policy["default-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    for name in ("script-src", "style-src"):
        assert "'unsafe-inline'" not in policy[name] and "http" not in policy[name]
    html = response.content.decode()
    nonce = re.search(r"'nonce-([^']+)'", policy["style-src"])
    # Each inline <style> the page has carries this response's nonce.
    for tag in re.findall(r"<style[^>]*>", html):
        assert nonce and f'nonce="{nonce[1]}"' in tag, tag
    assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", html)


def test_the_guest_page_keeps_its_own_stricter_policy(client):
    response = client.get(reverse("guest_page", args=["not-a-token"]))
    policy = directives(response)
    assert policy["frame-ancestors"] == "'none'"
    assert "nonce" not in response["Content-Security-Policy"]


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_the_api_docs_keep_their_own_policy(client, url):
    assert client.get(url)["Content-Security-Policy"] == DOCS_CONTENT_SECURITY_POLICY
