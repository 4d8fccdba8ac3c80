"""The three forms that take a password — the admin's, the API's session sign-in and the
invitation page's — driven the same way, for the tests of throttling and two-factor."""

from __future__ import annotations

from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from properties import services

PATHS = ["admin", "api", "invitation"]
PASSWORD = "pw-for-tests"


def invitation_link(org_b, user) -> str:
    """An invitation to another organization, sent to the person's address."""
    created = services.invitation_create(
        organization=org_b.organization,
        email=user.email,
        role="staff",
        invited_by=org_b.manager,
        base_url="http://testserver",
    )
    return created.link.removeprefix("http://testserver")


class SignInForm:
    """One sign-in path: `post(client, username, password, **extra)` sends its form."""

    def __init__(self, path: str, org_b=None, user=None):
        self.path = path
        if path == "admin":
            self.url, self.next, self.fields = "/admin/login/", "/admin/", {}
        elif path == "api":
            self.url, self.next, self.fields = "/api/auth/login/", "/api/v1/properties/", {}
        else:
            self.url = invitation_link(org_b, user)
            self.next, self.fields = self.url, {"action": "sign_in"}

    def post(self, client: Client, username: str, password: str, **extra):
        data = {"username": username, "password": password, "next": self.next, **self.fields}
        return client.post(f"{self.url}?next={self.next}", data, **extra)


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def current_code(device: TOTPDevice) -> str:
    """What the person's authenticator app shows now, from the device's key."""
    code = totp(device.bin_key, device.step, device.t0, device.digits)
    return f"{code:0{device.digits}d}"
