"""The front desk and the search box (admin pages: signed in, CSRF-checked), and the
sign-in that lands staff on the front desk."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.access import principal_of, scope_queryset
from guests import services as guest_services
from guests.models import GuestMessage
from guests.panel import describe
from reservations.models import LockAccess, Reservation

from . import services
from .selectors import LISTED, find_stays, front_desk

# The most a search term may be (longer is no guest name, email or code).
MAX_TERM = 200


def works_the_desk(user) -> bool:
    """Staff only (no organization where they manage): they land on the front desk."""
    principal = principal_of(user)
    return bool(principal.organization_ids) and not principal.managed_organization_ids


def sign_in(request, extra_context=None):
    """The admin's sign-in; staff who asked for nothing in particular land on the front
    desk (managers on the admin's home, with the dashboard, as before)."""
    response = admin.site.login(request, extra_context)
    # The sign-in form asks for the admin's home; without `next`, Django's default page.
    homes = {reverse("admin:index"), resolve_url(settings.LOGIN_REDIRECT_URL)}
    if (
        request.method == "POST"
        and isinstance(response, HttpResponseRedirect)
        and response.url in homes
        and works_the_desk(request.user)
    ):
        return HttpResponseRedirect(reverse("front_desk"))
    return response


def stay_urls() -> dict[str, str]:
    """Where a stay's pages and buttons are, but for its id: the cards add it (one URL
    reversed per page, not six per stay), and so does desk.js for its buttons."""
    return {
        "desk": reverse("desk_reveal", args=[0]).removesuffix("0/reveal/"),
        "change": reverse("admin:reservations_reservation_change", args=[0]).removesuffix(
            "0/change/"
        ),
    }


def front_desk_view(request):
    now = timezone.now()
    chosen = request.GET.get("property", "")
    if chosen and not chosen.isdigit():
        return render(
            request,
            "desk/front_desk.html",
            {
                **admin.site.each_context(request),
                "title": "Front desk",
                "error": "property: a property's number.",
            },
            status=400,
        )
    desk = front_desk(user=request.user, now=now, property_id=int(chosen) if chosen else None)
    context = {
        **admin.site.each_context(request),
        "title": "Front desk",
        "desk": desk,
        "late_minutes": int(LockAccess.LATE_AFTER.total_seconds() // 60),
        "listed": LISTED,
        "stay_urls": stay_urls(),
    }
    return render(request, "desk/front_desk.html", context)


def search_view(request):
    term = request.GET.get("q", "").strip()
    status = 200
    errors = []
    stays = None
    lookup = services.CodeLookupResult()
    if len(term) > MAX_TERM:
        errors.append(f"Type at most {MAX_TERM} characters.")
        status = 400
    elif term:
        stays = find_stays(user=request.user, term=term)
        lookup = services.code_lookup(user=request.user, term=term)
        if lookup.retry_after is not None:
            status = 429
    context = {
        **admin.site.each_context(request),
        "title": f"Search: {term}" if term else "Search",
        "term": term,
        "errors": errors,
        "stays": stays,
        "lookup": lookup,
    }
    response = render(request, "desk/search.html", context, status=status)
    if lookup.retry_after is not None:
        response["Retry-After"] = str(lookup.retry_after)
    return response


def _stay(request, reservation_id: int) -> Reservation:
    """The stay, among the person's organizations only (404 otherwise, as if unknown)."""
    stays = scope_queryset(Reservation.objects.select_related("listing__property"), request.user)
    return get_object_or_404(stays, pk=reservation_id)


def _refused(error: ValidationError) -> JsonResponse:
    return JsonResponse({"error": " ".join(error.messages)}, status=400)


@require_POST
def reveal_view(request, reservation_id: int):
    reservation = _stay(request, reservation_id)
    try:
        revealed = services.code_reveal(reservation=reservation, by=request.user)
    except ValidationError as error:
        return _refused(error)
    doors = [
        {"access": door.access_id, "name": door.name, "code": door.code, "own_code": door.own_code}
        for door in revealed.doors
    ]
    return JsonResponse({"code": revealed.code, "doors": doors})


@require_POST
def copied_view(request, reservation_id: int):
    reservation = _stay(request, reservation_id)
    access = request.POST.get("access") or None
    if access is not None and not access.isdigit():
        return JsonResponse({"error": "access: a door's number."}, status=400)
    try:
        told = services.code_copied(
            reservation=reservation, by=request.user, access_id=int(access) if access else None
        )
    except ValidationError as error:
        return _refused(error)
    return JsonResponse({"marked_sent": told})


@require_POST
def link_view(request, reservation_id: int):
    reservation = _stay(request, reservation_id)
    try:
        url = services.link_show(reservation=reservation, by=request.user, request=request)
    except ValidationError as error:
        return _refused(error)
    return JsonResponse({"url": url})


@require_POST
def link_copied_view(request, reservation_id: int):
    reservation = _stay(request, reservation_id)
    try:
        guest_services.message_copy_link(reservation=reservation, by=request.user, request=request)
    except ValidationError as error:
        return _refused(error)
    return JsonResponse({"marked_sent": True})


@require_POST
def email_view(request, reservation_id: int):
    """Email now (or again): the guest messages' own send, back to the stay's row."""
    reservation = _stay(request, reservation_id)
    try:
        message = guest_services.message_send_now(
            reservation=reservation, by=request.user, request=request
        )
    except ValidationError as error:
        messages.error(request, f"{reservation.guest_name}: {' '.join(error.messages)}")
    else:
        if message.state == GuestMessage.State.SENT:
            messages.success(request, f"{reservation.guest_name}: emailed to {message.recipient}.")
        else:
            zone = reservation.listing.property.zone
            messages.error(request, f"Not sent yet: {describe(message, zone)[1]}")
    back = request.POST.get("next", "")
    if not back.startswith(reverse("front_desk")) and not back.startswith(reverse("desk_search")):
        back = reverse("front_desk")
    return HttpResponseRedirect(f"{back}#stay-{reservation.pk}")
