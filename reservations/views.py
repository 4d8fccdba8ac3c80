"""The dashboard: what needs a person's attention before a guest is at the door."""

from django.contrib import admin, messages
from django.db.models import prefetch_related_objects
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.access import scope_queryset
from locks.selectors import assignments_flagged
from locks.views import reconnect_html
from properties.models import Property

from .alerts import alert_acknowledge
from .models import DeviceAlert, LockAccess, Reservation
from .panels import dashboard_sections
from .selectors import (
    DAYS,
    LOCK_HEALTH_WINDOW,
    accesses_failing,
    accesses_late,
    accesses_unconfirmed,
    codeless_doors_by_listing,
    doors_prefetch,
    doors_without_codes,
    double_bookings,
    first_stays_without_guest_door,
    locks_at_risk,
    locks_in_trouble,
    prearrival_alerts,
    stay_doors,
    stays_by_local_day,
)
from .verification import stays_awaiting_verification


def dashboard(request):
    user = request.user
    now = timezone.now()
    stays = stays_by_local_day(scope_queryset(Reservation.objects.all(), user), now=now)
    # Each day shows its first rows, with the day's count and "see all" (the admin list,
    # filtered): at thousands of stays a day, drawing every door of every one was most of
    # the page's time. The doors of the rows shown only, in one query; the guest doors
    # that take no codes come from their own section's rows.
    shown = {
        offset: (stays.arrivals[offset][:DAY_ROWS], stays.departures[offset][:DAY_ROWS])
        for offset in DAYS.values()
    }
    listed = {r.pk: r for pair in shown.values() for rows in pair for r in rows}
    prefetch_related_objects(list(listed.values()), *doors_prefetch())
    no_codes = doors_without_codes(user=user)
    codeless = codeless_doors_by_listing(no_codes)
    days = []
    for key, offset in DAYS.items():
        arrivals, departures = shown[offset]
        for reservation in arrivals:
            reservation.doors = stay_doors(reservation, now, codeless=codeless)
        for reservation in departures:
            reservation.leaving_doors = stay_doors(reservation, now, leaving=True)
        days.append(
            {
                "key": key,
                "arrivals": arrivals,
                "arrivals_count": len(stays.arrivals[offset]),
                "departures": departures,
                "departures_count": len(stays.departures[offset]),
            }
        )
    # A door that cannot take codes on its provider is listed as such, not as a failure.
    failing = [
        access
        for access in accesses_failing(user=user).order_by("last_error_at", "pk")[:200]
        if not access.device.codes_unsupported
    ]
    # Each lock in trouble once: with the arrivals it puts at risk at the top, else below.
    at_risk = locks_at_risk(user=user, now=now)
    locks = locks_in_trouble(user=user)
    alerts_of = {row.device.pk: row for row in locks}
    for row in at_risk:
        trouble = alerts_of.get(row.device.pk)
        row.alerts = trouble.alerts if trouble else []
        row.zone = trouble.zone if trouble else None
    shown_above = {row.device.pk for row in at_risk}
    unverified = stays_awaiting_verification(user=user, now=now)
    zones = (
        scope_queryset(Property.objects.all(), user)
        .order_by("time_zone")
        .values_list("time_zone", flat=True)
        .distinct()
    )
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        "zones": list(zones),
        # First: what could keep a guest arriving soon out, then codes not on their doors.
        "at_risk": at_risk,
        # Accounts whose locks take no codes until their owner signs in again.
        "reconnect_html": reconnect_html(user=user),
        "at_risk_hours": int(LOCK_HEALTH_WINDOW.total_seconds() // 3600),
        "prearrival": prearrival_alerts(user=user),
        # Guests whose code is held for verification, nearest first; on top at check-in.
        "unverified": unverified,
        "unverified_at_door": any(stay.at_the_door for stay in unverified),
        "failing": failing,
        "late": list(accesses_late(user=user, now=now).order_by("due_at", "pk")[:200]),
        "late_minutes": int(LockAccess.LATE_AFTER.total_seconds() // 60),
        "no_door": first_stays_without_guest_door(user=user, now=now),
        "double_bookings": double_bookings(user=user, now=now),
        "sections": dashboard_sections(request),
        "unconfirmed": list(
            accesses_unconfirmed(user=user, now=now).order_by("starts_at", "pk")[:200]
        ),
        "locks": [row for row in locks if row.device.pk not in shown_above],
        "locks_count": len(locks),
        "offline_count": sum(1 for row in locks if "offline" in row.problems),
        "low_battery_count": sum(
            1 for row in locks if row.device.removed_at is None and row.device.battery_is_low
        ),
        "alert_count": sum(len(row.alerts) for row in locks),
        "days": days,
        "no_codes": no_codes,
        "flagged": list(assignments_flagged(user=user).order_by("listing__name")),
    }
    return render(request, "reservations/dashboard.html", context)


# The rows each day's arrivals and departures show; the rest are one click away.
DAY_ROWS = 25


@require_POST
def alert_acknowledge_view(request, pk: int):
    """The dashboard's "Acknowledge" button (admin_view makes it signed in and CSRF-checked).

    Another organization's alert is a 404, as if it did not exist.
    """
    alert = get_object_or_404(scope_queryset(DeviceAlert.objects.all(), request.user), pk=pk)
    alert = alert_acknowledge(alert=alert, by=request.user)
    messages.success(request, f"Alert acknowledged: {alert.get_kind_display()} at {alert.place}.")
    # Back to the alert's row: its stay's, or its lock's (each lock is listed once), or the
    # section of a listing's alert.
    if alert.kind == DeviceAlert.Kind.PREARRIVAL_FAILED:
        section = "#prearrival"
    elif alert.kind == DeviceAlert.Kind.DOUBLE_BOOKING:
        section = "#double-bookings"
    elif alert.device_id is None:
        section = "#alerts"
    else:
        section = f"#lock-{alert.device_id}"
    return redirect(reverse("dashboard") + section)
