from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

from .links import reservation_for_token


@require_GET
def guest_page(request, token: str):
    """The guest's private page (a first cut: the reservation it opens, or nothing)."""
    reservation = reservation_for_token(token)
    if reservation is None:
        raise Http404
    response = HttpResponse(f"Welcome, {reservation.guest_name}", content_type="text/plain")
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
