"""The API docs work with no internet: Swagger UI and ReDoc come from the site's own static
files (drf-spectacular-sidecar), and their pages name no other host."""

import re
from html.parser import HTMLParser

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


class _Links(HTMLParser):
    """Every address a page would load or link: src, href, and url(...) in its styles."""

    def __init__(self):
        super().__init__()
        self.addresses: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.addresses += [value for name, value in attrs if name in {"src", "href"} and value]

    def handle_data(self, data):
        self.addresses += re.findall(r"url\(['\"]?([^'\")]+)", data)
        self.addresses += re.findall(r"@import\s+['\"]([^'\"]+)", data)


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_the_docs_pages_load_everything_from_this_site(client, url):
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    parser = _Links()
    parser.feed(html)
    assert parser.addresses, "the page loads its viewer from somewhere"
    for address in parser.addresses:
        assert address.startswith("/") and not address.startswith("//"), address
    # Nor in a script: no absolute address anywhere in the page.
    assert not re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.I)
    # Each script and stylesheet it names is one of the site's static files.
    for address in parser.addresses:
        if address.startswith("/static/"):
            assert finders.find(address.removeprefix("/static/")), f"{address} is not shipped"
    assert ("swagger-ui-bundle.js" if url == "/api/docs/" else "redoc.standalone.js") in html


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_the_docs_pages_may_load_only_from_this_site(client, url):
    """What the viewers' own scripts would fetch elsewhere, the browser refuses."""
    policy = client.get(url)["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    for name in ("script-src", "style-src", "img-src", "font-src", "connect-src"):
        assert "http" not in directives[name] and "*" not in directives[name], name
