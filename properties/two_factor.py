"""Two-factor sign-in: who needs it, the gate every signed-in request passes, and the
devices (an authenticator app's TOTP key, one-use recovery codes) a person sets up.

A password alone signs a person in to a *pending* session: django-otp marks the session
verified only once a code from one of their devices was accepted. Every page, the API and
the invitation page sit behind one gate (TwoFactorMiddleware) instead of each checking,
so that no sign-in path — present or future — can skip the second step. API keys never
meet it: they carry no session, and the guest page knows no people.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import Membership

RECOVERY_CODE_COUNT = 10
APP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"

# Paths a pending session may open: the two-factor pages themselves, signing out, and what
# never belongs to a person (static files, the guest page, webhooks, health probes).
OPEN_PREFIXES = (
    "/account/",
    "/admin/logout/",
    "/api/auth/logout/",
    "/static/",
    "/favicon.ico",
    "/g/",
    "/webhooks/",
    "/healthz",
)


def two_factor_required(user) -> bool:
    """Whether someone else decided this person must use a second factor: their
    organization (for its managers), or the deployment (for superusers)."""
    if not user.is_authenticated:
        return False
    if user.is_superuser and settings.KEYSTAY_TWO_FACTOR_FOR_SUPERUSERS:
        return True
    return Membership.objects.filter(
        user=user,
        role=Membership.Role.MANAGER,
        organization__require_two_factor_for_managers=True,
    ).exists()


def two_factor_needed(user) -> bool:
    """Required of them, or turned on by themselves (a confirmed authenticator app): one
    query, as it runs on every request of a session not yet verified."""
    if not user.is_authenticated:
        return False
    if user.is_superuser and settings.KEYSTAY_TWO_FACTOR_FOR_SUPERUSERS:
        return True
    return (
        get_user_model()
        .objects.filter(pk=user.pk)
        .filter(
            Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True))
            | Exists(
                Membership.objects.filter(
                    user=OuterRef("pk"),
                    role=Membership.Role.MANAGER,
                    organization__require_two_factor_for_managers=True,
                )
            )
        )
        .exists()
    )


def app_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("admin:index")


def next_url(request: HttpRequest) -> str:
    """Where to go once the second step is done: the page asked for, on this site only."""
    return _safe_next(request, request.POST.get("next") or request.GET.get("next"))


def second_step_redirect(request: HttpRequest, next_path: str) -> HttpResponseRedirect:
    """To the code page, or to setting up an app when a requirement finds none."""
    name = "two_factor_verify" if app_device(request.user) else "two_factor_setup"
    return HttpResponseRedirect(f"{reverse(name)}?{urlencode({'next': next_path})}")


class TwoFactorMiddleware:
    """A session that passed the password but not the second factor reaches only the
    two-factor pages: a page asks for the code; an API call gets a 403 saying why."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(OPEN_PREFIXES) or not self._pending(request):
            return self.get_response(request)
        if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
            return second_step_redirect(request, request.get_full_path())
        return JsonResponse(
            {
                "detail": "Two-factor sign-in is not finished: enter a code from your "
                "authenticator app at " + reverse("two_factor_verify")
            },
            status=403,
        )

    @staticmethod
    def _pending(request: HttpRequest) -> bool:
        user = request.user
        if not user.is_authenticated or user.is_verified():
            return False
        return two_factor_needed(user)


# ---------------------------------------------------------------------- setting up
@dataclass(frozen=True)
class PendingApp:
    """A key not yet confirmed: what the setup page shows to scan or type."""

    device: TOTPDevice
    secret: str  # base32, as authenticator apps take it by hand
    config_url: str  # otpauth://, what the QR code holds


def app_start(*, user) -> PendingApp:
    """A fresh unconfirmed key for the person (any earlier unconfirmed one is dropped:
    only the key last shown can be confirmed)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    device = TOTPDevice.objects.create(user=user, name=APP_DEVICE_NAME, confirmed=False)
    return pending_app(device)


def pending_app(device: TOTPDevice) -> PendingApp:
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return PendingApp(device=device, secret=secret, config_url=device.config_url)


def unconfirmed_app(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()


@transaction.atomic
def app_confirm(*, request: HttpRequest, device: TOTPDevice, token: str) -> list[str] | None:
    """Confirm the app with a code it shows; on success the person's other app keys go,
    the session counts as verified, and fresh recovery codes are returned (to be shown
    once: only the device keeps them). None when the code is wrong."""
    if not device.verify_token(token.strip().replace(" ", "")):
        return None
    TOTPDevice.objects.filter(user=device.user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    otp_login(request, device)
    return recovery_codes_replace(user=device.user)


@transaction.atomic
def recovery_codes_replace(*, user) -> list[str]:
    """New one-use codes for when the phone is lost; the old ones stop working."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


@transaction.atomic
def two_factor_turn_off(*, user) -> None:
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()


def verify(*, request: HttpRequest, token: str) -> str:
    """Accept a code from the app or a recovery code (used up): "verified", "wrong", or
    "wait" when wrong codes in a row made the devices pause (each failure doubles the
    pause before the next try is even looked at)."""
    token = token.strip().replace(" ", "")
    user = request.user
    devices = [*TOTPDevice.objects.filter(user=user, confirmed=True)]
    devices += [*StaticDevice.objects.filter(user=user, confirmed=True)]
    if devices and not any(device.verify_is_allowed()[0] for device in devices):
        return "wait"
    for device in devices:
        if device.verify_token(token):
            otp_login(request, device)
            return "verified"
    return "wrong"
