"""The guest's private page: each door with its code from confirmation until check-out, in
the property's time; nothing of the code before, after, or through a wrong link."""

import datetime
import re

import pytest
import time_machine
from django.core.cache import cache
from django.core.signing import dumps
from django.urls import reverse
from django.utils import dateformat, timezone

from guests.links import SALT, guest_path, link_regenerate, token_for
from guests.models import GuestLink
from locks.models import LockAssignment
from reservations import services
from reservations.models import LockAccess, Reservation
from tests.fixtures_lifecycle import run_at
from tests.reservations.admin_pages import change_url

pytestmark = pytest.mark.django_db

MINUTE = datetime.timedelta(minutes=1)
UTC = datetime.UTC


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """Every test client calls from 127.0.0.1: each test starts (and leaves) a clean count."""
    cache.clear()
    yield
    cache.clear()


def open_page(client, reservation_or_path, status=200):
    path = (
        reservation_or_path
        if isinstance(reservation_or_path, str)
        else guest_path(reservation_or_path)
    )
    response = client.get(path)
    assert response.status_code == status, response.content[:300]
    return response


def doors_on(html: str) -> dict[str, str]:
    """Door name → the text of its entry on the page."""
    return {
        name: body
        for name, body in re.findall(
            r'<li class="gp-door" data-door="([^"]+)">(.*?)</li>', html, re.S
        )
    }


def code_in(entry: str) -> str | None:
    found = re.search(r"<p class=\"gp-code\" data-code[^>]*>([^<]*)</p>", entry)
    return found[1] if found else None


def local(value, zone, fmt="D j M, H:i T"):
    return dateformat.format(timezone.localtime(value, zone), fmt)


def own_code_on_gate(wired, reservation, code="4829"):
    gate = LockAssignment.objects.get(listing=wired.listing, device=wired.gate)
    services.override_set(reservation=reservation, assignment=gate, code=code)
    return code


# --- When the code shows -----------------------------------------------------------------


def test_the_codes_show_from_confirmation_until_check_out_and_never_after(wired, client):
    reservation = wired.book(status=Reservation.Status.PENDING, days_ahead=2, nights=2)
    html = open_page(client, reservation).content.decode()
    assert "Your door code will appear here once your booking is confirmed." in html
    assert "data-code" not in html

    services.reservation_confirm(reservation=reservation)
    code = Reservation.objects.get(pk=reservation.pk).code.value
    doors = doors_on(open_page(client, reservation).content.decode())
    assert set(doors) == {"Garden Gate", "Side Door"}  # not the door without guest access
    assert {code_in(entry) for entry in doors.values()} == {code}

    with time_machine.travel(reservation.check_out - MINUTE, tick=False):
        assert code in open_page(client, reservation).content.decode()
    for after in (reservation.check_out, reservation.check_out + datetime.timedelta(days=30)):
        with time_machine.travel(after, tick=False):
            html = open_page(client, reservation).content.decode()
        assert "This stay has ended" in html
        assert code not in html and "data-code" not in html and "Check-in" not in html


def test_a_cancelled_stay_shows_nothing_of_its_code(wired, client):
    reservation = wired.book(days_ahead=1)
    code = reservation.code.value
    assert code in open_page(client, reservation).content.decode()
    services.reservation_cancel(reservation=reservation)
    html = open_page(client, reservation).content.decode()
    assert "This booking was cancelled" in html
    assert code not in html and "data-code" not in html


def test_a_stay_ended_early_by_staff_shows_nothing_of_its_code(wired, client):
    reservation = wired.book(days_ahead=0)
    code = reservation.code.value
    with time_machine.travel(reservation.check_in + MINUTE, tick=False):
        assert code in open_page(client, reservation).content.decode()
        services.reservation_end_stay(reservation=reservation)
        html = open_page(client, reservation).content.decode()
    assert "This stay has ended" in html and code not in html


# --- Each door with its own code ---------------------------------------------------------


def test_each_door_shows_the_code_that_opens_it_and_marks_its_own(wired, client):
    reservation = wired.book()
    own = own_code_on_gate(wired, reservation)
    doors = doors_on(open_page(client, reservation).content.decode())
    assert code_in(doors["Garden Gate"]) == own
    assert "This door has its own code." in doors["Garden Gate"]
    assert code_in(doors["Side Door"]) == reservation.code.value
    assert "own code" not in doors["Side Door"]


def test_a_door_whose_lock_has_not_picked_its_code_says_when_it_will_appear(wired, client):
    wired.side.can_specify_pin_code = False
    wired.side.save(update_fields=["can_specify_pin_code"])
    reservation = wired.book(days_ahead=3)
    side = LockAccess.objects.get(reservation=reservation, device=wired.side)
    zone = wired.listing.property.zone

    doors = doors_on(open_page(client, reservation).content.decode())
    assert code_in(doors["Garden Gate"]) == reservation.code.value
    assert code_in(doors["Side Door"]) is None
    assert f"will appear here on {local(side.program_at, zone)}" in doors["Side Door"]

    run_at(side.program_at + MINUTE)  # the lock picks its code when it is put on
    (held,) = wired.codes_on(wired.side)
    doors = doors_on(open_page(client, reservation).content.decode())
    assert code_in(doors["Side Door"]) == held.code != reservation.code.value
    assert "This door has its own code." in doors["Side Door"]


def test_the_page_reads_in_a_fixed_number_of_queries(wired, client, django_assert_max_num_queries):
    reservation = wired.book()
    path = guest_path(reservation)
    with django_assert_max_num_queries(3):
        open_page(client, path)


# --- Times in the property's zone --------------------------------------------------------


@pytest.mark.parametrize(
    "zone_name, check_in, check_out, texts",
    [
        # The US moves its clocks forward on Sunday 2027-03-14.
        (
            "America/New_York",
            datetime.date(2027, 3, 12),
            datetime.date(2027, 3, 16),
            ["Friday 12 March 2027, 15:00 EST", "Tuesday 16 March 2027, 11:00 EDT"],
        ),
        # Portugal on Sunday 2027-03-28.
        (
            "Europe/Lisbon",
            datetime.date(2027, 3, 26),
            datetime.date(2027, 3, 29),
            ["Friday 26 March 2027, 15:00 WET", "Monday 29 March 2027, 11:00 WEST"],
        ),
    ],
)
def test_times_are_the_propertys_local_times_across_a_clock_change(
    wired, client, zone_name, check_in, check_out, texts
):
    prop = wired.listing.property
    prop.time_zone = zone_name
    prop.save()
    listing = wired.listing
    booked_at = datetime.datetime.combine(check_in, datetime.time(12), UTC) - datetime.timedelta(
        days=10
    )
    with time_machine.travel(booked_at, tick=False):
        reservation = services.reservation_create(
            listing=listing,
            guest_name="Spring Forward",
            check_in=listing.local_check_in(check_in),
            check_out=listing.local_check_out(check_out),
            status=Reservation.Status.CONFIRMED,
        )
        html = open_page(client, reservation).content.decode()
    assert texts[0] in html and texts[1] in html
    assert f"Times are local to the property ({zone_name})." in html
    # Each door's window too: from check-in (in winter time) to check-out (in summer time).
    gate = doors_on(html)["Garden Gate"]
    assert texts[0].split(", ", 1)[1] in gate and texts[1].split(", ", 1)[1] in gate


# --- Links that open nothing -------------------------------------------------------------


def tampered(token: str) -> str:
    return token[:-1] + ("A" if token[-1] != "A" else "B")


@pytest.mark.parametrize(
    "make_path",
    [
        lambda r: reverse("guest_page", args=[tampered(token_for(r))]),
        lambda r: reverse("guest_page", args=["not-a-token"]),
        lambda r: reverse("guest_page", args=[dumps({"a": 1, "b": 2}, salt=SALT)]),
        lambda r: reverse("guest_page", args=[dumps([r.pk, "guessed-key"], salt=SALT)]),
        lambda r: reverse("guest_page", args=[dumps([r.pk, r.guest_link.key], salt="other")]),
    ],
    ids=["tampered", "malformed", "wrong-shape", "wrong-key", "other-salt"],
)
def test_a_wrong_link_shows_nothing(wired, client, make_path):
    reservation = wired.book()
    token_for(reservation)  # the stay has a link
    html = open_page(client, make_path(reservation), status=404).content.decode()
    assert "This link does not open a stay" in html
    for detail in (reservation.code.value, reservation.guest_name, wired.listing.name):
        assert detail not in html


def test_a_regenerated_link_replaces_the_old_one(wired, client):
    reservation = wired.book()
    old = guest_path(reservation)
    assert reservation.code.value in open_page(client, old).content.decode()
    link_regenerate(reservation=reservation)
    html = open_page(client, old, status=404).content.decode()
    assert reservation.code.value not in html and wired.listing.name not in html
    assert reservation.code.value in open_page(client, reservation).content.decode()


# --- Private by construction -------------------------------------------------------------


def assert_private(response):
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["Cache-Control"] == "no-store, private"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert not response.cookies  # no session, no CSRF cookie


@pytest.mark.parametrize("signed_in", [False, True])
def test_the_page_is_private_and_plain(wired, client, signed_in):
    if signed_in:  # staff checking a link from their own browser get no cookie either
        client.force_login(wired.listing.organization.memberships.first().user)
    reservation = wired.book()
    response = open_page(client, reservation)
    assert_private(response)
    html = response.content.decode()
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    # No admin chrome, nothing loaded from another site, no script.
    assert "Django administration" not in html and 'id="header"' not in html
    assert "admin/" not in html and "<script" not in html
    assert "http://" not in html and "https://" not in html and 'src="//' not in html
    assert_private(open_page(client, "/g/not-a-token/", status=404))


# --- Staff replace a link ----------------------------------------------------------------


def regenerate_url(reservation):
    return reverse("guest_link_regenerate", args=[reservation.pk])


def test_staff_regenerate_a_link_and_the_old_one_stops_working(org_a, staff_client):
    reservation = org_a.reservation
    old = guest_path(reservation)
    response = staff_client.post(regenerate_url(reservation), follow=True)
    assert response.redirect_chain[-1][0] == change_url(reservation)
    assert "The guest link was replaced" in response.content.decode()
    cache.clear()
    assert staff_client.get(old).status_code == 404
    assert staff_client.get(guest_path(reservation)).status_code == 200
    assert GuestLink.objects.get(reservation=reservation).regenerated_at is not None


def test_regenerating_takes_a_post(org_a, staff_client):
    old = guest_path(org_a.reservation)
    assert staff_client.get(regenerate_url(org_a.reservation)).status_code == 405
    assert staff_client.get(old).status_code == 200


def test_another_organizations_member_cannot_regenerate_a_link(org_a, org_b, client):
    old = guest_path(org_a.reservation)
    for user in (org_b.manager, org_b.staff):
        client.force_login(user)
        assert client.post(regenerate_url(org_a.reservation)).status_code == 404
    client.logout()
    response = client.post(regenerate_url(org_a.reservation))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert client.get(old).status_code == 200
    assert GuestLink.objects.get(reservation=org_a.reservation).regenerated_at is None


def test_check_in_instructions_show_with_the_codes_only(wired, client):
    wired.listing.check_in_instructions = "The key box is left of the blue door."
    wired.listing.save(update_fields=["check_in_instructions"])
    reservation = wired.book(status=Reservation.Status.PENDING, days_ahead=2)
    assert "key box" not in open_page(client, reservation).content.decode()
    services.reservation_confirm(reservation=reservation)
    assert (
        "The key box is left of the blue door." in open_page(client, reservation).content.decode()
    )
    services.reservation_cancel(reservation=Reservation.objects.get(pk=reservation.pk))
    assert "key box" not in open_page(client, reservation).content.decode()
