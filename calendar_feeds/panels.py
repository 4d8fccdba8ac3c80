"""What calendar feeds add to pages they do not own: the dashboard's feeds in trouble, and
the reservation page's "came from" (registered in CalendarFeedsConfig.ready)."""

from __future__ import annotations

from django.http import HttpRequest
from django.template.loader import render_to_string

from reservations.models import Reservation

from .selectors import feed_event_of, feeds_in_trouble


def dashboard_section(request: HttpRequest) -> str:
    return render_to_string(
        "calendar_feeds/_dashboard.html",
        {"feeds": feeds_in_trouble(user=request.user)},
        request=request,
    )


def reservation_panel(request: HttpRequest, reservation: Reservation) -> str:
    return render_to_string(
        "calendar_feeds/_reservation_panel.html",
        {"reservation": reservation, "event": feed_event_of(reservation)},
        request=request,
    )
