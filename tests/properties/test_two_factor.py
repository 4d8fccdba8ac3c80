"""Two-factor sign-in: anyone can turn it on; an organization can require it of its
managers, the deployment of its superusers. Every sign-in form then asks for a code
before anything opens; API keys and the guest page never meet it."""

import datetime
import re

import pytest
import time_machine
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from api.services import api_key_create
from properties import two_factor
from properties.models import Membership

from .sign_in_paths import PASSWORD, PATHS, SignInForm, current_code, signed_in

pytestmark = pytest.mark.django_db

VERIFY = reverse("two_factor_verify")
SETUP = reverse("two_factor_setup")


def turn_on(client) -> tuple[TOTPDevice, list[str]]:
    """Through the setup page, as a person does: start, read the key, confirm a code."""
    response = client.post(SETUP, {"action": "start"})
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', response.content.decode())[1]
    device = TOTPDevice.objects.get(user=response.wsgi_request.user, confirmed=False)
    assert two_factor.pending_app(device).secret == secret
    assert "<svg" in response.content.decode()  # the QR code to scan
    response = client.post(SETUP, {"action": "confirm", "token": current_code(device)})
    codes = re.findall(r"<li><code>(\w+)</code></li>", response.content.decode())
    device.refresh_from_db()
    return device, codes


def with_app(user) -> TOTPDevice:
    client = Client()
    client.force_login(user)
    device, _ = turn_on(client)
    return device


def later(minutes=1):
    """A code is good once: the next sign-in happens at a later step of the clock."""
    return time_machine.travel(timezone.now() + datetime.timedelta(minutes=minutes))


# ------------------------------------------------------------------ turning it on
def test_a_person_turns_it_on_with_a_code_and_sees_recovery_codes_once(org_a, client):
    client.force_login(org_a.staff)
    assert "is <strong>off</strong>" in client.get(SETUP).content.decode()
    response = client.post(SETUP, {"action": "start"})
    device = TOTPDevice.objects.get(user=org_a.staff)
    assert not device.confirmed
    response = client.post(SETUP, {"action": "confirm", "token": "000000"})
    assert "not right" in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed

    device, codes = turn_on(client)
    assert device.confirmed
    assert len(codes) == 10 and len(set(codes)) == 10
    page = client.get(SETUP).content.decode()
    assert "is <strong>on</strong>" in page and "10 recovery codes left" in page
    assert not any(code in page for code in codes)  # shown once only
    assert TOTPDevice.objects.filter(user=org_a.staff).count() == 1


def test_the_admin_links_to_the_setup_page(manager_client):
    assert SETUP in manager_client.get(reverse("admin:index")).content.decode()


# ------------------------------------------------------------ every sign-in path
@pytest.mark.parametrize("path", PATHS)
def test_each_sign_in_form_asks_for_the_code_before_anything_opens(path, org_a, org_b):
    device = with_app(org_a.staff)
    form = SignInForm(path, org_b, org_a.staff)
    client = Client()
    with later():
        response = form.post(client, org_a.staff.username, PASSWORD)
        assert response.status_code == 302
        assert signed_in(client)
        if path == "invitation":
            # Signing in on the invitation page does not join yet.
            assert response["Location"].startswith(VERIFY)
            assert not Membership.objects.filter(organization=org_b.organization).filter(
                user=org_a.staff
            )
        # Nothing opens with the password alone: pages send to the code, the API refuses.
        page = client.get("/admin/", HTTP_ACCEPT="text/html")
        assert page.status_code == 302 and page["Location"].startswith(VERIFY)
        api = client.get("/api/v1/properties/", HTTP_ACCEPT="application/json")
        assert api.status_code == 403 and "Two-factor" in api.json()["detail"]
        page = client.get(form.next, HTTP_ACCEPT="text/html")
        assert page.status_code == 302 and page["Location"].startswith(VERIFY)

        wrong = client.post(VERIFY, {"token": "123456", "next": form.next})
        assert wrong.status_code == 200 and "not right" in wrong.content.decode()
    with later(minutes=1.1):  # a wrong code pauses the next try for a second
        response = client.post(VERIFY, {"token": current_code(device), "next": form.next})
        assert response.status_code == 302 and response["Location"] == form.next

        assert client.get("/admin/").status_code == 200
        assert client.get("/api/v1/properties/", HTTP_ACCEPT="application/json").status_code == 200
        if path == "invitation":
            client.post(form.url, {"action": "accept"})
            assert Membership.objects.get(organization=org_b.organization, user=org_a.staff)


def test_a_recovery_code_signs_in_once(org_a):
    client = Client()
    client.force_login(org_a.staff)
    device, codes = turn_on(client)
    form = SignInForm("admin")
    for attempt, expected in [(1, 302), (2, 200)]:
        other = Client()
        with later(attempt):
            form.post(other, org_a.staff.username, PASSWORD)
            response = other.post(VERIFY, {"token": codes[0], "next": "/admin/"})
        assert response.status_code == expected
    page = client.get(SETUP).content.decode()
    assert "9 recovery codes left" in page


def test_wrong_codes_in_a_row_make_the_person_wait(org_a):
    device = with_app(org_a.staff)
    client = Client()
    with later():
        SignInForm("admin").post(client, org_a.staff.username, PASSWORD)
        for _ in range(5):
            client.post(VERIFY, {"token": "000000"})
        # Even the right code waits now: each failure doubles the pause.
        response = client.post(VERIFY, {"token": current_code(device)})
    assert response.status_code == 200
    assert "wait" in response.content.decode()


def test_a_person_who_turned_it_on_may_turn_it_off(org_a, client):
    client.force_login(org_a.staff)
    turn_on(client)
    client.post(SETUP, {"action": "turn_off"})
    assert not TOTPDevice.objects.filter(user=org_a.staff).exists()
    other = Client()
    assert SignInForm("admin").post(other, org_a.staff.username, PASSWORD).status_code == 302
    assert other.get("/admin/").status_code == 200


# ----------------------------------------------------------------- requirements
def test_an_organization_requires_it_of_its_managers_not_its_staff(org_a, manager_client):
    response = manager_client.post(
        reverse("admin:properties_organization_change", args=[org_a.organization.pk]),
        {
            "name": org_a.organization.name,
            "low_battery_percent": 20,
            "require_two_factor_for_managers": "on",
        },
    )
    assert response.status_code == 302
    org_a.organization.refresh_from_db()
    assert org_a.organization.require_two_factor_for_managers

    # The manager (no app yet) is sent to set one up before anything else opens.
    manager = Client()
    SignInForm("admin").post(manager, org_a.manager.username, PASSWORD)
    page = manager.get("/admin/", HTTP_ACCEPT="text/html")
    assert page.status_code == 302 and page["Location"].startswith(SETUP)
    setup = manager.get(page["Location"])
    assert "requires two-factor sign-in" in setup.content.decode()
    device = TOTPDevice.objects.get(user=org_a.manager, confirmed=False)
    manager.post(SETUP, {"action": "confirm", "token": current_code(device)})
    assert manager.get("/admin/").status_code == 200
    # Required: it cannot be turned off.
    manager.post(SETUP, {"action": "turn_off"})
    assert TOTPDevice.objects.filter(user=org_a.manager, confirmed=True).exists()

    staff = Client()
    SignInForm("admin").post(staff, org_a.staff.username, PASSWORD)
    assert staff.get("/admin/").status_code == 200


@override_settings(KEYSTAY_TWO_FACTOR_FOR_SUPERUSERS=True)
def test_the_setting_requires_it_of_superusers(db):
    from tests.factories import UserFactory

    root = UserFactory(username="root", is_superuser=True)
    client = Client()
    SignInForm("admin").post(client, root.username, PASSWORD)
    page = client.get("/admin/", HTTP_ACCEPT="text/html")
    assert page.status_code == 302 and page["Location"].startswith(SETUP)


def test_api_keys_never_meet_it(org_a):
    org_a.organization.require_two_factor_for_managers = True
    org_a.organization.save()
    _, key = api_key_create(organization=org_a.organization, name="PMS", role="manager")
    response = Client().get(
        "/api/v1/properties/", HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 200
    assert response.json()["results"]


def test_a_page_elsewhere_cannot_be_the_next_step(org_a):
    device = with_app(org_a.staff)
    client = Client()
    with later():
        SignInForm("admin").post(client, org_a.staff.username, PASSWORD)
        response = client.post(
            VERIFY, {"token": current_code(device), "next": "https://evil.example/"}
        )
    assert response["Location"] == reverse("admin:index")


def test_an_operator_resets_a_lost_phone(org_a):
    from io import StringIO

    from django.core.management import call_command

    with_app(org_a.staff)
    call_command("two_factor_reset", org_a.staff.username, stdout=StringIO())
    assert not TOTPDevice.objects.filter(user=org_a.staff).exists()
    client = Client()
    SignInForm("admin").post(client, org_a.staff.username, PASSWORD)
    assert client.get("/admin/").status_code == 200
