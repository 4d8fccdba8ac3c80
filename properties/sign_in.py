"""Signing in: the one step every sign-in form takes after the password, the lock-outs
managers may lift, and the throttle in front of password-reset emails.

Wrong passwords are counted by django-axes (settings: AXES_*), which every sign-in form
meets through Django's authenticate(): the admin's, the API's /api/auth/login/ and the
invitation page's. A lock-out holds one account from one client address.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import render

from core import access
from core.client_address import client_ip
from core.ratelimit import Rate, hit

from .models import FailedSignIn
from .two_factor import second_step_redirect, two_factor_needed


def sign_in(
    request: HttpRequest, user, *, next_path: str, backend: str | None = None
) -> HttpResponseRedirect | None:
    """Sign the person in after their password was accepted. When their sign-in needs a
    second factor, the redirect to it (back to `next_path` afterwards); else None, and the
    caller goes on."""
    login(request, user, backend=backend)
    if two_factor_needed(user):
        return second_step_redirect(request, next_path)
    return None


# --------------------------------------------------------------------- lock-outs
def lockout_response(request: HttpRequest, original_response=None, credentials=None):
    """What every sign-in form answers while its account is locked for this client
    (axes calls it: AXES_LOCKOUT_CALLABLE), in the admin's frame, with 429."""
    from django.contrib import admin

    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    context = {
        **admin.site.each_context(request),
        "title": "Sign-in paused",
        "cooloff_minutes": minutes,
        "failure_limit": settings.AXES_FAILURE_LIMIT,
    }
    return render(request, "registration/locked_out.html", context, status=429)


def failed_sign_ins_visible_to(user) -> QuerySet:
    """Failed sign-ins (axes' AccessAttempt rows) for the accounts of the organizations the
    person manages; every row for a superuser. Attempts on names that are nobody's account
    say nothing a manager needs, and would tell them which names were tried elsewhere."""
    attempts = FailedSignIn.objects.all()
    principal = access.principal_of(user)
    if principal.is_superuser:
        return attempts
    accounts = get_user_model().objects.filter(
        memberships__organization_id__in=principal.managed_organization_ids
    )
    return attempts.filter(
        username__in=accounts.values(get_user_model().USERNAME_FIELD).distinct()
    )


def locked_out(failures: int) -> bool:
    return failures >= settings.AXES_FAILURE_LIMIT


def lock_ends_at(attempt_time):
    return attempt_time + settings.AXES_COOLOFF_TIME


def lockouts_lift(*, attempts: QuerySet) -> int:
    """Forget these failed sign-ins: each account may try again at once from that client.
    `attempts` must come from failed_sign_ins_visible_to(the manager)."""
    count, _ = attempts.delete()
    return count


# ---------------------------------------------------------------- password reset
def password_reset_wait(request: HttpRequest, email: str) -> tuple[int | None, bool]:
    """Count a reset request from this client and for this address. Returns (seconds the
    client must wait, or None; whether this address had its share of emails already, in
    which case the page says the same as ever and no email leaves)."""
    rate = Rate.parse(settings.PASSWORD_RESET_RATE)
    wait = hit("password-reset:client", client_ip(request), rate)
    if wait:
        return wait, True
    address_full = hit("password-reset:email", email.strip().lower(), rate) is not None
    return None, address_full
