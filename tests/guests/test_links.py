"""The guest link: it opens its own reservation only, and a regenerated one revokes it."""

import pytest

from guests.links import guest_url, link_regenerate, reservation_for_token, token_for

pytestmark = pytest.mark.django_db


def test_a_link_opens_its_reservation_and_nothing_else(org_a, org_b):
    token = token_for(org_a.reservation)
    assert reservation_for_token(token) == org_a.reservation
    assert reservation_for_token(token_for(org_b.reservation)) == org_b.reservation
    assert token != token_for(org_b.reservation)


@pytest.mark.parametrize("tamper", [lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), str.upper])
def test_a_tampered_link_opens_nothing(org_a, tamper):
    assert reservation_for_token(tamper(token_for(org_a.reservation))) is None


def test_regenerating_revokes_every_earlier_link(org_a):
    old = token_for(org_a.reservation)
    link_regenerate(reservation=org_a.reservation)
    assert reservation_for_token(old) is None
    assert reservation_for_token(token_for(org_a.reservation)) == org_a.reservation


def test_the_link_points_at_the_public_address(org_a, settings, client):
    settings.KEYSTAY_PUBLIC_URL = "https://keystay.example.com/"
    url = guest_url(org_a.reservation)
    assert url.startswith("https://keystay.example.com/g/")
    response = client.get(url.removeprefix("https://keystay.example.com"))
    assert response.status_code == 200 and response["X-Robots-Tag"].startswith("noindex")
    assert client.get("/g/not-a-token/").status_code == 404
