from django.contrib import admin
from django.db import transaction
from django.db.models import Count
from django.utils.html import format_html

from core import access
from core.admin_scoping import OrganizationScopedAdmin, ReadOnlyScopedAdmin

from .models import (
    LOW_BATTERY_LEVEL,
    Device,
    LockAssignment,
    LockProviderConnection,
    UnmanagedCode,
)
from .services import notify_listing_locks_changed


@admin.register(LockProviderConnection)
class LockProviderConnectionAdmin(OrganizationScopedAdmin):
    ordering = ["name"]
    list_display = [
        "name",
        "organization",
        "workspace_name",
        "masked_api_key",
        "sync_state",
        "device_count",
        "created_at",
    ]
    fields = [
        "organization",
        "name",
        "endpoint",
        "masked_api_key",
        "workspace_name",
        "sync_state",
        "sync_finished_at",
        "last_sync_error",
    ]
    readonly_fields = [
        "organization",
        "endpoint",
        "masked_api_key",
        "workspace_name",
        "sync_state",
        "sync_finished_at",
        "last_sync_error",
    ]
    list_filter = [("organization", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["organization"]
    search_fields = ["name"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_devices=Count("devices"))

    @admin.display(description="devices", ordering="_devices")
    def device_count(self, obj):
        return obj._devices

    @admin.display(description="API key")
    def masked_api_key(self, obj):
        return obj.masked_api_key

    def has_add_permission(self, request):
        # A connection is added on the Smart Devices page, which checks the key at Seam.
        return False


class BatteryFilter(admin.SimpleListFilter):
    title = "battery"
    parameter_name = "battery"

    def lookups(self, request, model_admin):
        return [("low", "Low (under 20%)"), ("ok", "20% or more")]

    def queryset(self, request, queryset):
        if self.value() == "low":
            return queryset.filter(battery_level__lt=LOW_BATTERY_LEVEL)
        if self.value() == "ok":
            return queryset.filter(battery_level__gte=LOW_BATTERY_LEVEL)
        return queryset


class RemovedFilter(admin.SimpleListFilter):
    title = "at the provider"
    parameter_name = "removed"

    def lookups(self, request, model_admin):
        return [("no", "Present"), ("yes", "Removed")]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(removed_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(removed_at__isnull=False)
        return queryset


class UnmanagedCodeInline(admin.TabularInline):
    """Codes made in the lock's own app or a PMS: shown, never changed (read-only)."""

    model = UnmanagedCode
    verbose_name = "code made outside Keystay"
    verbose_name_plural = "codes made outside Keystay (read-only, never changed by Keystay)"
    fields = ["name", "masked_code", "window", "first_seen_at", "last_seen_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_view_permission(self, request, obj=None):
        return access.can_view(request.user, obj)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="code")
    def masked_code(self, obj):
        return obj.masked

    @admin.display(description="valid")
    def window(self, obj):
        return _window(obj)


def _window(code: UnmanagedCode) -> str:
    if code.is_ongoing:
        return "Always (ongoing)"
    starts = f"{code.starts_at:%Y-%m-%d %H:%M}" if code.starts_at else "…"
    ends = f"{code.ends_at:%Y-%m-%d %H:%M}" if code.ends_at else "…"
    return f"{starts} → {ends} UTC"


@admin.register(Device)
class DeviceAdmin(OrganizationScopedAdmin):
    ordering = ["name"]

    def has_add_permission(self, request):
        # Devices come from a connection's import (Smart Devices), never typed in.
        return False

    def has_change_permission(self, request, obj=None):
        # Everything on a device is the provider's word, refreshed by every import.
        return False

    list_display = [
        "name",
        "kind",
        "manufacturer",
        "model",
        "online_badge",
        "battery",
        "connection",
        "listing_count",
        "removed_at",
    ]
    list_filter = [
        "kind",
        "online",
        BatteryFilter,
        RemovedFilter,
        ("connection", admin.RelatedOnlyFieldListFilter),
        "manufacturer",
    ]
    list_select_related = ["connection"]
    search_fields = ["name", "provider_device_id", "manufacturer", "model"]
    readonly_fields = ["last_synced_at", "removed_at", "created_at"]
    inlines = [UnmanagedCodeInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_listings=Count("assignments"))

    @admin.display(description="online", ordering="online")
    def online_badge(self, obj):
        color, label = ("#2e7d32", "online") if obj.online else ("#c62828", "offline")
        return format_html('<strong style="color:{}">{}</strong>', color, label)

    @admin.display(description="battery", ordering="battery_level")
    def battery(self, obj):
        return "—" if obj.battery_percent is None else f"{obj.battery_percent}%"

    @admin.display(description="listings", ordering="_listings")
    def listing_count(self, obj):
        return obj._listings


@admin.register(LockAssignment)
class LockAssignmentAdmin(OrganizationScopedAdmin):
    list_display = ["device", "listing", "role", "guest_access", "property"]
    list_filter = [
        "role",
        "guest_access",
        ("listing__property", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["device", "listing__property"]
    search_fields = ["device__name", "listing__name", "listing__external_id"]
    autocomplete_fields = ["listing", "device"]

    @admin.display(description="property", ordering="listing__property__name")
    def property(self, obj):
        return obj.listing.property

    # A lock added, removed or switched re-plans the codes of the listing's stays.

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            previous = (
                list(LockAssignment.objects.filter(pk=obj.pk).values_list("listing_id", flat=True))
                if change
                else []
            )
            super().save_model(request, obj, form, change)
            notify_listing_locks_changed(listing_ids=[obj.listing_id, *previous])

    def delete_model(self, request, obj):
        with transaction.atomic():
            listing_id = obj.listing_id
            super().delete_model(request, obj)
            notify_listing_locks_changed(listing_ids=[listing_id])

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            listing_ids = list(queryset.values_list("listing_id", flat=True))
            super().delete_queryset(request, queryset)
            notify_listing_locks_changed(listing_ids=listing_ids)


@admin.register(UnmanagedCode)
class UnmanagedCodeAdmin(ReadOnlyScopedAdmin):
    list_display = [
        "display_name",
        "masked_code",
        "device",
        "window",
        "first_seen_at",
        "last_seen_at",
    ]
    list_filter = [("device", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["device"]
    search_fields = ["name", "device__name"]
    ordering = ["device__name", "name"]
    fields = ["name", "masked_code", "device", "window", "status", "first_seen_at", "last_seen_at"]
    readonly_fields = fields

    @admin.display(description="name", ordering="name")
    def display_name(self, obj):
        return obj.display_name

    @admin.display(description="code")
    def masked_code(self, obj):
        return obj.masked

    @admin.display(description="valid")
    def window(self, obj):
        return _window(obj)
