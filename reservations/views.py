"""The dashboard: what needs a person's attention before a guest is at the door."""

from django.contrib import admin, messages
from django.db.models import prefetch_related_objects
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.access import scope_queryset
from locks.models import Device
from locks.selectors import assignments_flagged
from locks.views import reconnect_html
from properties.models import Property

from . import sections
from .alerts import alert_acknowledge
from .models import WAITING_SINCE, DeviceAlert, LockAccess, Reservation
from .panels import dashboard_sections
from .sections import SECTION_ROWS, Section, first_rows
from .selectors import (
    DAYS,
    LOCK_HEALTH_WINDOW,
    STAY_ROW_FIELDS,
    accesses_failing,
    accesses_late,
    accesses_unconfirmed,
    arriving_on,
    at_risk_before_arrival,
    codeless_doors_by_listing,
    doors_prefetch,
    doors_without_codes,
    double_bookings,
    first_stays_without_guest_door,
    leaving_on,
    lock_trouble_counts,
    locks_at_risk,
    locks_in_trouble,
    prearrival_alerts,
    stay_doors,
    with_departure,
)
from .verification import stays_awaiting_verification


def dashboard(request):
    """Each list shows its first rows (SECTION_ROWS) with its count and "see all": the
    admin list filtered by the same condition (reservations.sections). A constant number
    of queries, and rows read bounded, however many stays, codes and locks there are."""
    user = request.user
    now = timezone.now()
    reservations = reverse("admin:reservations_reservation_changelist")
    stays = scope_queryset(Reservation.objects.all(), user)
    zones = list(
        scope_queryset(Property.objects.all(), user)
        .order_by("time_zone")
        .values_list("time_zone", flat=True)
        .distinct()
    )
    rows = stays.select_related("listing__property").only(*STAY_ROW_FIELDS)
    days = []
    for key, offset in DAYS.items():
        days.append(
            {
                "key": key,
                "arrivals": first_rows(
                    rows.filter(arriving_on(zones, now, offset)).order_by("check_in", "pk"),
                    url=f"{reservations}?arriving={key}",
                    what=key,
                ),
                "departures": first_rows(
                    with_departure(rows.filter(leaving_on(zones, now, offset))),
                    url=f"{reservations}?leaving={key}",
                    what=key,
                ),
            }
        )
    # The doors of the rows shown only, in one query (a stay arriving today and leaving
    # tomorrow is two objects, each needing its doors); the guest doors that take no
    # codes come from their own section's rows.
    listed = [r for day in days for rows in (day["arrivals"], day["departures"]) for r in rows]
    prefetch_related_objects(listed, *doors_prefetch())
    no_codes = doors_without_codes(user=user)
    codeless = codeless_doors_by_listing(no_codes)
    for day in days:
        for reservation in day["arrivals"]:
            reservation.doors = stay_doors(reservation, now, codeless=codeless)
        for reservation in day["departures"]:
            reservation.leaving_doors = stay_doors(reservation, now, leaving=True)
    # Each lock in trouble once: with the arrivals it puts at risk at the top, else below.
    devices = reverse("admin:locks_device_changelist")
    at_risk = locks_at_risk(
        user=user,
        now=now,
        url=f"{devices}?trouble=arrival",
        what="locks in trouble before an arrival",
    )
    shown = [row.device.pk for row in at_risk]
    alerts_of = {
        row.device.pk: row for row in locks_in_trouble(user=user, only=shown, limit=len(shown))
    }
    for row in at_risk:
        trouble = alerts_of.get(row.device.pk)
        row.alerts = trouble.alerts if trouble else []
        row.zone = trouble.zone if trouble else None
    # The locks below leave out those above (all of them, shown or one click away).
    at_risk_ids = scope_queryset(Device.objects.filter(at_risk_before_arrival(now)), user).values(
        "pk"
    )
    counts = lock_trouble_counts(user=user)
    unverified = stays_awaiting_verification(
        user=user,
        now=now,
        url=f"{reservations}?verification=awaiting",
        what="guests not verified",
    )
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        "zones": zones,
        # First: what could keep a guest arriving soon out, then codes not on their doors.
        "at_risk": at_risk,
        # Accounts whose locks take no codes until their owner signs in again.
        "reconnect_html": reconnect_html(user=user),
        "at_risk_hours": int(LOCK_HEALTH_WINDOW.total_seconds() // 3600),
        "prearrival": prearrival_alerts(
            user=user,
            url=reverse("admin:reservations_devicealert_changelist")
            + "?state=open&kind__exact=prearrival_fail",
            what="open alerts",
        ),
        # Guests whose code is held for verification, nearest first; on top at check-in.
        "unverified": unverified,
        "unverified_at_door": any(stay.at_the_door for stay in unverified),
        **_failing(user, reservations),
        "late": first_rows(
            accesses_late(user=user, now=now).order_by(WAITING_SINCE, "pk"),
            url=f"{reservations}?codes=late",
            what="late codes, by stay",
        ),
        "late_minutes": int(LockAccess.LATE_AFTER.total_seconds() // 60),
        "no_door": first_stays_without_guest_door(
            user=user, now=now, url=f"{reservations}?codes=no_door", what="stays"
        ),
        "double_bookings": double_bookings(
            user=user, now=now, url=f"{reservations}?overlap=yes", what="double bookings' stays"
        ),
        "sections": dashboard_sections(request),
        "unconfirmed": first_rows(
            accesses_unconfirmed(user=user, now=now).order_by("starts_at", "pk"),
            url=f"{reservations}?codes=unconfirmed",
            what="codes not yet confirmed, by stay",
        ),
        "locks": Section(
            locks_in_trouble(user=user, leave_out=at_risk_ids, limit=sections.SECTION_ROWS),
            counts["locks"] - at_risk.count,
            f"{devices}?trouble=yes",
            "locks in trouble",
        ),
        "locks_count": counts["locks"],
        "offline_count": counts["offline"],
        "low_battery_count": counts["low_battery"],
        "alert_count": counts["alerts"],
        "days": days,
        "no_codes": no_codes,
        "flagged": first_rows(
            assignments_flagged(user=user).order_by("listing__name", "pk"),
            url=f"{devices}?removed=yes",
            what="doors of locks gone at the provider",
        ),
    }
    return render(request, "reservations/dashboard.html", context)


def _failing(user, reservations: str) -> dict[str, Section]:
    """ "Codes failing": the guests' and the crews' codes in one list (its count, both),
    each part with its own "see all": the stays (reservations) or the turnovers whose
    codes fail."""
    failing = first_rows(
        accesses_failing(user=user, crew=True).order_by("last_error_at", "pk"),
        url=f"{reservations}?codes=failing",
        what="codes failing",
    )
    crew_count = 0
    if failing.count:
        crew = accesses_failing(user=user, crew=True).filter(turnover__isnull=False)
        crew_count = crew.order_by().values("pk")[: sections.COUNT_CAP + 1].count()
    return {
        "failing": failing,
        "failing_guests": Section(
            [a for a in failing.rows if a.reservation_id],
            failing.count - crew_count,
            f"{reservations}?codes=failing",
            "guest codes failing, by stay",
        ),
        "failing_crew": Section(
            [a for a in failing.rows if a.turnover_id],
            crew_count,
            reverse("admin:reservations_turnover_changelist") + "?codes=failing",
            "crew codes failing, by turnover",
        ),
    }


# The rows each day's arrivals and departures show (as every list); the rest are one
# click away.
DAY_ROWS = SECTION_ROWS


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
