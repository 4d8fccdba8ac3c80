"""The dashboard: what needs a person's attention before a guest is at the door."""

import datetime

from django.contrib import admin, messages
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.access import scope_queryset
from locks.models import Device, battery_low
from locks.selectors import assignments_flagged

from .activity import alerts_open
from .alerts import alert_acknowledge
from .models import DeviceAlert, LockAccess, Reservation
from .selectors import (
    LOCK_HEALTH_WINDOW,
    accesses_failing,
    accesses_unconfirmed,
    locks_at_risk,
    prearrival_alerts,
)


def dashboard(request):
    user = request.user
    now = timezone.now()
    # Today is each property's own today: read a bounded slice, then sort by local date.
    around = scope_queryset(
        Reservation.objects.filter(
            status__in=[Reservation.Status.CONFIRMED, Reservation.Status.CHECKED_OUT]
        ).select_related("listing__property"),
        user,
    )
    window = (now - datetime.timedelta(days=1), now + datetime.timedelta(days=2))
    arrivals, departures = [], []
    doors = Prefetch(
        "lock_accesses",
        queryset=LockAccess.objects.filter(wanted=True).select_related("device"),
        to_attr="doors",
    )
    for reservation in (
        around.filter(check_in__range=window).prefetch_related(doors).order_by("check_in")
    ):
        zone = reservation.listing.property.zone
        if timezone.localtime(reservation.check_in, zone).date() == timezone.localdate(
            timezone=zone
        ):
            arrivals.append(reservation)
    for reservation in around.filter(check_out__range=window).order_by("check_out"):
        zone = reservation.listing.property.zone
        if timezone.localtime(reservation.check_out, zone).date() == timezone.localdate(
            timezone=zone
        ):
            departures.append(reservation)
    devices = scope_queryset(
        Device.objects.filter(removed_at__isnull=True).select_related("connection"), user
    )
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        # First: what could keep a guest arriving soon out, then codes not confirmed.
        "at_risk": locks_at_risk(user=user, now=now),
        "at_risk_hours": int(LOCK_HEALTH_WINDOW.total_seconds() // 3600),
        "prearrival": prearrival_alerts(user=user),
        "arrivals": arrivals,
        "departures": departures,
        "failing": list(accesses_failing(user=user).order_by("last_error_at")[:200]),
        "unconfirmed": list(
            accesses_unconfirmed(user=user, now=now).order_by("starts_at", "pk")[:200]
        ),
        "offline": list(devices.filter(online=False).order_by("name")),
        "low_battery": list(devices.filter(battery_low()).order_by("name")),
        "flagged": list(assignments_flagged(user=user).order_by("listing__name")),
        # Pre-arrival failures have their own section, with the stay and any backup code.
        "alerts": list(
            alerts_open(user=user).exclude(kind=DeviceAlert.Kind.PREARRIVAL_FAILED)[:200]
        ),
    }
    return render(request, "reservations/dashboard.html", context)


@require_POST
def alert_acknowledge_view(request, pk: int):
    """The dashboard's "Acknowledge" button (admin_view makes it signed in and CSRF-checked).

    Another organization's alert is a 404, as if it did not exist.
    """
    alert = get_object_or_404(scope_queryset(DeviceAlert.objects.all(), request.user), pk=pk)
    alert = alert_acknowledge(alert=alert, by=request.user)
    messages.success(request, f"Alert acknowledged: {alert.get_kind_display()} at {alert.device}.")
    section = "#prearrival" if alert.kind == DeviceAlert.Kind.PREARRIVAL_FAILED else "#alerts"
    return redirect(reverse("dashboard") + section)
