"""A forgotten password is reset by email, with Django's own pages in the admin's frame:
one email through a real SMTP server, a link that works once, a page that never tells
which addresses have accounts, and a throttle per client and per address."""

import re

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from tests.smtp import smtp_server, text_of

from .sign_in_paths import SignInForm, signed_in

pytestmark = pytest.mark.django_db

RESET = reverse("admin_password_reset")
LINK = re.compile(r"http://testserver(/account/password-reset/[\w-]+/[\w-]+/)")
NEW_PASSWORD = "quiet-harbour-lantern-77"


@pytest.fixture(autouse=True)
def _fresh_counts():
    cache.clear()  # the reset throttle counts in the cache
    yield
    cache.clear()


@pytest.fixture
def smtp(settings):
    """A real SMTP server on a free loopback port; Django's SMTP backend sends to it."""
    with smtp_server(settings) as inbox:
        yield inbox


def test_the_sign_in_page_offers_the_reset(client):
    assert RESET in client.get(reverse("admin:login")).content.decode()


def test_one_email_and_a_link_that_works_once(smtp, org_a, client):
    page = client.get(RESET)
    assert page.status_code == 200 and "Keystay" in page.content.decode()  # the admin's frame
    response = client.post(RESET, {"email": org_a.staff.email.upper()})
    assert response.status_code == 302
    assert client.get(response["Location"]).status_code == 200

    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message["To"] == org_a.staff.email
    path = LINK.search(text_of(message))[1]

    form = client.get(path, follow=True)
    assert "new_password1" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert done.status_code == 302
    assert not signed_in(client)  # the next sign-in is a sign-in like any other

    other = Client()
    assert SignInForm("admin").post(other, org_a.staff.username, NEW_PASSWORD).status_code == 302
    assert signed_in(other)

    again = client.get(path, follow=True)
    assert "new_password1" not in again.content.decode()
    assert "invalid" in again.content.decode()


def test_an_unknown_address_gets_the_same_answer_and_no_email(smtp, org_a, client):
    known = client.post(RESET, {"email": org_a.staff.email})
    unknown = client.post(RESET, {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    assert len(smtp.messages) == 1


def test_one_client_asking_too_often_waits(smtp, org_a):
    client = Client(REMOTE_ADDR="203.0.113.9")
    for n in range(5):
        assert client.post(RESET, {"email": f"someone{n}@example.com"}).status_code == 302
    response = client.post(RESET, {"email": org_a.staff.email})
    assert response.status_code == 429
    assert "Try again in" in response.content.decode()
    assert smtp.messages == []
    # Another client is not held back.
    assert Client(REMOTE_ADDR="198.51.100.4").post(RESET, {"email": org_a.staff.email})[
        "Location"
    ] == reverse("password_reset_done")
    assert len(smtp.messages) == 1


def test_one_address_gets_its_share_of_emails_and_then_the_same_page(smtp, org_a):
    for n in range(7):
        response = Client(REMOTE_ADDR=f"198.51.100.{n}").post(RESET, {"email": org_a.staff.email})
        assert response.status_code == 302
        assert response["Location"] == reverse("password_reset_done")
    assert len(smtp.messages) == 5
