"""The guest's private page (no sign-in: the signed link is the key) and the staff's
button that replaces that link."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.views.decorators.http import require_GET, require_POST

from core.access import scope_queryset
from core.client_address import client_ip
from core.languages import default_language, guest_format, language_choices, language_codes
from core.ratelimit import Rate, hit
from reservations.models import Reservation

from . import guest_page as page
from .content import language_of
from .links import link_regenerate, reservation_for_token

# The page shows door codes: no search engine, no cache on the way, no Referer carrying
# the link to another site, nothing loaded from elsewhere, never inside a frame.
PRIVATE_HEADERS = {
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store, private",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
}

TOO_MANY = "Too many requests. Please wait a minute, then open your link again."


def _private(response: HttpResponse) -> HttpResponse:
    for header, value in PRIVATE_HEADERS.items():
        response[header] = value
    return response


@require_GET
def guest_page(request, token: str):
    """The doors and codes of the stay the link opens, from confirmation until check-out.

    Every request counts against the sender's address and against the link before the
    link is even read, so guessing links is as slow as opening a real one. A link that is
    tampered with, malformed or replaced is a 404 that says nothing of why.
    """
    rate = Rate.parse(settings.GUEST_PAGE_RATE)
    wait = hit("guest-page-ip", client_ip(request), rate) or hit("guest-page-link", token, rate)
    if wait is not None:
        response = HttpResponse(TOO_MANY, status=429, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(wait)
        return _private(response)
    wanted = request.GET.get("lang", "")
    reservation = reservation_for_token(token)
    if reservation is None:
        language = wanted if wanted in language_codes() else default_language()
        with translation.override(language):
            response = render(request, "guests/guest_page.html", {"missing": True}, status=404)
        return _private(response)
    # The guest's language, or the one they picked with the page's switch (plain links:
    # the page's policy allows no form). Only this response is translated; the staff's
    # pages keep the site's language.
    language = language_of(reservation, wanted)
    with translation.override(language):
        context = {
            "page": page.guest_page_for(page.load(reservation)),
            "language": language,
            "languages": [
                {"code": code, "name": name, "url": f"{request.path}?lang={code}"}
                for code, name in language_choices()
            ],
            "long_format": guest_format("GUEST_DATETIME_FORMAT"),
            "short_format": guest_format("GUEST_SHORT_DATETIME_FORMAT"),
        }
        response = render(request, "guests/guest_page.html", context)
    response["Content-Language"] = language
    return _private(response)


@require_POST
def guest_link_regenerate(request, reservation_id: int):
    """Staff replace a stay's guest link (e.g. sent to the wrong person): every link sent
    before shows nothing from now on. Members of the stay's organization only (admin_view
    makes it signed in and CSRF-checked); another organization's stay is a 404."""
    reservation = get_object_or_404(
        scope_queryset(Reservation.objects.all(), request.user), pk=reservation_id
    )
    link_regenerate(reservation=reservation)
    messages.success(
        request,
        "The guest link was replaced: the link sent before no longer opens the guest page. "
        "Send the guest the new one.",
    )
    return redirect(reverse("admin:reservations_reservation_change", args=[reservation.pk]))
