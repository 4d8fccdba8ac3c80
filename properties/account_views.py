"""A person's own sign-in pages, styled like the admin: the second step of a sign-in,
setting up two-factor sign-in, and resetting a forgotten password by email."""

from __future__ import annotations

import segno
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.template.response import TemplateResponse
from django.urls import reverse, reverse_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from . import two_factor
from .sign_in import password_reset_wait


def _admin_context(request, title: str) -> dict:
    # The admin's header, user tools and site name on pages outside the admin's own URLs.
    from django.contrib import admin

    return {**admin.site.each_context(request), "title": title}


@never_cache
@sensitive_post_parameters("token")
@login_required
@require_http_methods(["GET", "POST"])
def two_factor_verify(request):
    """The second step: a code from the authenticator app, or a recovery code."""
    next_path = two_factor.next_url(request)
    if request.user.is_verified() or not two_factor.two_factor_needed(request.user):
        return HttpResponseRedirect(next_path)
    if not two_factor.app_device(request.user):
        return two_factor.second_step_redirect(request, next_path)
    problem = None
    if request.method == "POST":
        outcome = two_factor.verify(request=request, token=request.POST.get("token", ""))
        if outcome == "verified":
            return HttpResponseRedirect(next_path)
        problem = (
            "Too many wrong codes in a row: wait a minute, then enter the code your app "
            "shows then."
            if outcome == "wait"
            else "That code is not right (or was used already). Try the code your app "
            "shows now, or a recovery code."
        )
    context = {
        **_admin_context(request, "Two-factor sign-in"),
        "next": next_path,
        "problem": problem,
    }
    return render(request, "registration/two_factor_verify.html", context)


def _qr_svg(text: str) -> str:
    # Inline SVG markup: no image request, nothing for the page's policy to allow.
    return segno.make(text, error="m").svg_inline(scale=4, dark="#1f2933", light="#ffffff")


@never_cache
@sensitive_post_parameters("token")
@login_required
@require_http_methods(["GET", "POST"])
def two_factor_setup(request):
    """Turn two-factor sign-in on (scan or type a key, confirm one code, keep the recovery
    codes shown once), make new recovery codes, or turn it off where nothing requires it."""
    user = request.user
    next_path = two_factor.next_url(request)
    enabled = two_factor.app_device(user) is not None
    required = two_factor.two_factor_required(user)
    # With an app confirmed, changes need this session to have passed it (the gate lets
    # a pending session open this page, to set up an app a requirement asks for).
    if enabled and not user.is_verified():
        return two_factor.second_step_redirect(request, request.get_full_path())
    action = request.POST.get("action") if request.method == "POST" else None
    recovery_codes = None
    problem = None
    pending = None

    if action == "start":
        pending = two_factor.app_start(user=user)
    elif action == "confirm":
        device = two_factor.unconfirmed_app(user)
        if device is None:
            pending = two_factor.app_start(user=user)
            problem = "That key was replaced: scan this one and enter its code."
        else:
            recovery_codes = two_factor.app_confirm(
                request=request, device=device, token=request.POST.get("token", "")
            )
            if recovery_codes is None:
                pending = two_factor.pending_app(device)
                problem = "That code is not right: enter the code your app shows now."
            else:
                enabled = True
    elif action == "recovery_codes" and enabled:
        recovery_codes = two_factor.recovery_codes_replace(user=user)
    elif action == "turn_off" and enabled and not required:
        two_factor.two_factor_turn_off(user=user)
        messages.success(request, "Two-factor sign-in is off.")
        return HttpResponseRedirect(reverse("two_factor_setup"))
    elif request.method == "GET" and required and not enabled:
        # Required and missing: the key is shown at once, without a click.
        pending = two_factor.unconfirmed_app(user)
        pending = two_factor.pending_app(pending) if pending else two_factor.app_start(user=user)

    context = {
        **_admin_context(request, "Two-factor sign-in"),
        "enabled": enabled,
        "required": required,
        "pending": pending,
        "qr_svg": _qr_svg(pending.config_url) if pending else None,
        "recovery_codes": recovery_codes,
        "recovery_codes_left": two_factor.recovery_codes_left(user) if enabled else 0,
        "problem": problem,
        "next": next_path if recovery_codes or pending else None,
    }
    return render(request, "registration/two_factor_setup.html", context)


class AdminLook:
    """Django's password views in the admin's frame (its header and site name)."""

    def get_context_data(self, **kwargs):
        from django.contrib import admin

        return {**admin.site.each_context(self.request), **super().get_context_data(**kwargs)}


class PasswordResetView(AdminLook, auth_views.PasswordResetView):
    """Django's own reset, throttled: per client address (a page saying to wait) and per
    email address (the same page as ever, and no email: the page never tells which
    addresses have accounts, nor which were asked for too often)."""

    success_url = reverse_lazy("password_reset_done")

    def form_valid(self, form):
        wait, address_full = password_reset_wait(self.request, form.cleaned_data["email"])
        if wait:
            context = {**self.get_context_data(form=form), "wait_minutes": -(-wait // 60)}
            return TemplateResponse(
                self.request, "registration/password_reset_wait.html", context, status=429
            )
        if address_full:
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)


class PasswordResetDoneView(AdminLook, auth_views.PasswordResetDoneView):
    pass


class PasswordResetConfirmView(AdminLook, auth_views.PasswordResetConfirmView):
    # The new password does not sign the person in: the next sign-in asks for the second
    # factor like any other.
    post_reset_login = False


class PasswordResetCompleteView(AdminLook, auth_views.PasswordResetCompleteView):
    pass
