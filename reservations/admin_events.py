"""Lock events and alerts (a lock's or a listing's) in the admin: what locks reported,
read-only; alerts can be acknowledged (an action, not an edit)."""

from django.contrib import admin, messages
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.html import format_html

from core.admin_scoping import ReadOnlyScopedAdmin
from core.exports import RecordsExportMixin
from core.text import counted
from core.timezones import format_instant
from locks.models import Device

from .activity import lock_place, zone_named
from .alerts import alert_acknowledge
from .models import DeviceAlert, LockEvent
from .resources import DeviceAlertResource, LockEventResource
from .selectors import at_risk_before_arrival, in_trouble

# A lock's events and alerts are in the zone of its first listing's property.
ZONE = "listing__property__time_zone"


@admin.register(LockEvent)
class LockEventAdmin(RecordsExportMixin, ReadOnlyScopedAdmin):
    # Who opened which door when, for a damage claim or a lockout: the list's filters
    # (a lock, a week) decide the rows.
    resource_classes = [LockEventResource]
    list_display = ["occurred", "device", "kind", "who_column", "detail"]
    list_filter = [
        "kind",
        "method",
        ("device", admin.RelatedOnlyFieldListFilter),
        ("occurred_at", admin.DateFieldListFilter),
    ]
    list_select_related = ["device", "reservation"]
    search_fields = ["person_name", "device__name", "provider_event_id"]
    date_hierarchy = "occurred_at"
    ordering = ["-occurred_at", "-pk"]
    fields = [
        "occurred_at",
        "received_at",
        "device",
        "kind",
        "method",
        "who_column",
        "reservation",
        "unmanaged_code",
        "detail",
        "event_type",
        "provider_event_id",
        "access_code_id",
        "payload",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_zone=lock_place(ZONE))

    @admin.display(description="when (the lock's local time)", ordering="occurred_at")
    def occurred(self, obj):
        return format_instant(obj.occurred_at, zone_named(obj._zone))

    @admin.display(description="who", ordering="person_name")
    def who_column(self, obj):
        return obj.who or "—"


class OpenAlertFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("resolved", "Resolved")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


@admin.register(DeviceAlert)
class DeviceAlertAdmin(RecordsExportMixin, ReadOnlyScopedAdmin):
    resource_classes = [DeviceAlertResource]
    list_display = ["opened", "place", "kind", "message", "state", "acknowledged"]
    list_filter = [OpenAlertFilter, "kind", ("device", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["device", "listing"]
    ordering = ["-opened_at"]
    fields = [
        "device",
        "listing",
        "kind",
        "message",
        "reservation",
        "event",
        "opened_at",
        "acknowledged_at",
        "acknowledged_by_name",
        "resolved_at",
        "resolution",
    ]
    readonly_fields = fields
    actions = ["acknowledge_selected"]

    def get_queryset(self, request):
        # A lock's alert in its place's zone; a listing's (a calendar feed, a double
        # booking) in its property's.
        return (
            super()
            .get_queryset(request)
            .annotate(_zone=Coalesce(lock_place(ZONE), F("listing__property__time_zone")))
        )

    @admin.display(description="lock or listing")
    def place(self, obj):
        return obj.device or obj.listing or "—"

    @admin.display(description="opened (local time)", ordering="opened_at")
    def opened(self, obj):
        return format_instant(obj.opened_at, zone_named(obj._zone))

    @admin.display(description="state", ordering="resolved_at")
    def state(self, obj):
        if obj.is_open:
            return format_html('<strong style="color:#c62828">{}</strong>', "open")
        resolved = f"resolved {format_instant(obj.resolved_at, zone_named(obj._zone))}"
        return f"{resolved}: {obj.resolution}" if obj.resolution else resolved

    @admin.display(description="acknowledged", ordering="acknowledged_at")
    def acknowledged(self, obj):
        if obj.acknowledged_at is None:
            return "—"
        when = format_instant(obj.acknowledged_at, zone_named(obj._zone))
        return f"{obj.acknowledged_by_name or 'staff'}, {when}"

    @admin.action(description="Acknowledge")
    def acknowledge_selected(self, request, queryset):
        # The changelist's queryset is already the member's organizations' alerts; fields
        # stay read-only: acknowledging records who and when, nothing else changes.
        done = 0
        for alert in queryset.filter(acknowledged_at__isnull=True):
            alert_acknowledge(alert=alert, by=request.user)
            done += 1
        self.message_user(request, f"{counted(done, 'alert')} acknowledged.", messages.SUCCESS)


class TroubleFilter(admin.SimpleListFilter):
    """The lock list's "in trouble": the dashboard's locks offline, low on battery or
    raising an alert (`in_trouble`). Added to the lock admin here, where the alerts are."""

    title = "trouble"
    parameter_name = "trouble"

    def lookups(self, request, model_admin):
        return [
            ("yes", "Offline, low on battery or an open alert"),
            ("arrival", "Offline or low on battery before an arrival"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(in_trouble())
        if self.value() == "arrival":
            return queryset.filter(at_risk_before_arrival(timezone.now()))
        return queryset


_devices = admin.site._registry[Device]
if TroubleFilter not in _devices.list_filter:
    _devices.list_filter = [*_devices.list_filter, TroubleFilter]
