"""Wrong passwords lock one account out from one client, on every sign-in form, for a
while; the owner signing in from elsewhere is not held back, and a manager can lift it."""

import datetime

import pytest
import time_machine
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from properties.models import FailedSignIn

from .sign_in_paths import PASSWORD, PATHS, SignInForm, signed_in

pytestmark = pytest.mark.django_db

ATTACKER = {"REMOTE_ADDR": "203.0.113.66"}
OWNER = {"REMOTE_ADDR": "198.51.100.7"}


def hammer(form, client, username, times=25, **extra):
    for _ in range(times):
        response = form.post(client, username, "not-the-password", **extra)
        assert not signed_in(client)
    return response


@pytest.mark.parametrize("path", PATHS)
def test_the_26th_try_with_the_right_password_is_refused_after_25_wrong(path, org_a, org_b):
    user = org_a.manager
    form = SignInForm(path, org_b, user)
    attacker = Client()
    hammer(form, attacker, user.username, **ATTACKER)
    response = form.post(attacker, user.username, PASSWORD, **ATTACKER)
    assert response.status_code == 429
    assert "paused" in response.content.decode()
    assert not signed_in(attacker)

    # The owner, from their own network, signs in as ever.
    owner = Client()
    response = form.post(owner, user.username, PASSWORD, **OWNER)
    assert response.status_code == 302, response.content.decode()[:500]
    assert signed_in(owner)


@pytest.mark.parametrize("path", PATHS)
def test_the_pause_ends_after_the_cool_off(path, org_a, org_b):
    user = org_a.staff
    form = SignInForm(path, org_b, user)
    client = Client()
    hammer(form, client, user.username, times=10, **ATTACKER)
    assert form.post(client, user.username, PASSWORD, **ATTACKER).status_code == 429
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=16)):
        response = form.post(client, user.username, PASSWORD, **ATTACKER)
    assert response.status_code == 302
    assert signed_in(client)


def test_fewer_failures_than_the_limit_do_not_lock(org_a):
    form = SignInForm("admin")
    client = Client()
    hammer(form, client, org_a.staff.username, times=9, **OWNER)
    assert form.post(client, org_a.staff.username, PASSWORD, **OWNER).status_code == 302


@override_settings(KEYSTAY_NUM_PROXIES=1)
def test_behind_a_proxy_the_client_is_who_the_proxy_heard_not_what_it_claims(org_a):
    """Made-up X-Forwarded-For entries on the left do not make a guesser a new client."""
    form = SignInForm("admin")
    client = Client()
    for n in range(25):
        form.post(
            client,
            org_a.manager.username,
            "wrong",
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 203.0.113.66",
        )
    proxied = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "192.0.2.200, 203.0.113.66"}
    assert form.post(client, org_a.manager.username, PASSWORD, **proxied).status_code == 429
    # Another client behind the same proxy is not held back.
    other = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "198.51.100.7"}
    assert form.post(Client(), org_a.manager.username, PASSWORD, **other).status_code == 302


def _lift(manager_client, *attempts):
    return manager_client.post(
        reverse("admin:properties_failedsignin_changelist"),
        {"action": "lift", "_selected_action": [a.pk for a in attempts]},
        follow=True,
    )


def test_a_manager_sees_and_lifts_a_lock_out_of_their_member(org_a, org_b, client):
    form = SignInForm("admin")
    hammer(form, Client(), org_a.staff.username, **ATTACKER)
    hammer(form, Client(), org_b.staff.username, **ATTACKER)
    hammer(form, Client(), "nobody-at-all", **ATTACKER)

    client.force_login(org_a.manager)
    page = client.get(reverse("admin:properties_failedsignin_changelist"))
    assert page.status_code == 200
    shown = [row.username for row in page.context["cl"].result_list]
    assert shown == [org_a.staff.username]  # not Bravo's member, not a made-up name
    assert "locked out until" in page.content.decode().lower()

    # A crafted POST naming Bravo's row lifts nothing.
    bravo_row = FailedSignIn.objects.get(username=org_b.staff.username)
    _lift(client, bravo_row)
    assert FailedSignIn.objects.filter(pk=bravo_row.pk).exists()

    _lift(client, FailedSignIn.objects.get(username=org_a.staff.username))
    locked_client = Client()
    response = form.post(locked_client, org_a.staff.username, PASSWORD, **ATTACKER)
    assert response.status_code == 302
    assert signed_in(locked_client)
    # Bravo's member is still paused.
    assert form.post(Client(), org_b.staff.username, PASSWORD, **ATTACKER).status_code == 429


def test_staff_do_not_see_failed_sign_ins(staff_client):
    response = staff_client.get(reverse("admin:properties_failedsignin_changelist"))
    assert response.status_code == 403
