from django import forms
from django.contrib import admin
from django.db import transaction
from django.db.models import Prefetch
from django.template.loader import render_to_string
from django.utils.html import format_html

from core import access
from core.admin_columns import related_count
from core.admin_scoping import ManagerOnlyInline, OrganizationScopedAdmin, ReadOnlyScopedAdmin
from core.languages import language_field
from core.timezones import format_instant
from properties import services as property_services
from properties.models import Listing

from . import services as lock_services
from .admin_listing_import import ListingImportExportMixin
from .models import (
    Device,
    LeftoverRemoval,
    LockAssignment,
    LockProviderConnection,
    UnmanagedCode,
    battery_low,
)
from .services import (
    AssignmentRule,
    assignment_problems,
    device_seat,
)


def unmanaged_codes_html(codes) -> str:
    """The table of codes made outside Keystay (UnmanagedCode rows), for any admin page
    that shows a lock's or a stay's (the reservation's page too)."""
    return render_to_string("locks/_unmanaged_codes.html", {"unmanaged_codes": codes})


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
        return (
            super()
            .get_queryset(request)
            .annotate(_devices=related_count(Device.objects.all(), "connection"))
        )

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
        return [("low", "Low (under the organization's threshold)"), ("ok", "Not low")]

    def queryset(self, request, queryset):
        if self.value() == "low":
            return queryset.filter(battery_low())
        if self.value() == "ok":
            return queryset.exclude(battery_low())
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
    verbose_name_plural = (
        "codes made outside Keystay (read-only: removed only as leftovers a manager confirmed)"
    )
    fields = ["name", "masked_code", "window", "first_seen_at", "last_seen_at", "leftover"]
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

    @admin.display(description="leftover")
    def leftover(self, obj):
        return _leftover(obj)


def _leftover(code: UnmanagedCode) -> str:
    if code.leftover_at is None:
        return "—"
    return f"Marked leftover {format_instant(code.leftover_at)}"


def _window(code: UnmanagedCode) -> str:
    if code.is_ongoing:
        return "Always (ongoing)"
    starts = format_instant(code.starts_at) if code.starts_at else "…"
    ends = format_instant(code.ends_at) if code.ends_at else "…"
    return f"{starts} → {ends}"


@admin.register(Device)
class DeviceAdmin(OrganizationScopedAdmin):
    ordering = ["name"]

    def has_add_permission(self, request):
        # Devices come from a connection's import (Smart Devices), never typed in.
        return False

    def has_change_permission(self, request, obj=None):
        # Everything on a device is the provider's word, refreshed by every import, but
        # for Keystay's own choice (backup codes) on a lock that supports them.
        if obj is None or not obj.supports_backup_access_code_pool:
            return False
        return super().has_change_permission(request, obj)

    def get_fields(self, request, obj=None):
        if obj is not None and self.has_change_permission(request, obj):
            return ["use_backup_pool", "other_integration"]
        # The battery as a percentage, where the provider's 0–1 level would be; Seam's
        # warnings in words.
        skip = {"battery", "other_integration", "provider_warnings"}
        fields = [name for name in super().get_fields(request, obj) if name not in skip]
        fields = ["battery" if name == "battery_level" else name for name in fields]
        return [*fields, "other_integration"]

    @admin.display(description="other integrations")
    def other_integration(self, obj):
        if obj is None or not obj.integration_warnings:
            return "None reported by the provider."
        return render_to_string("locks/_integration_warnings.html", {"device": obj})

    list_display = [
        "name",
        "kind_note",
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
    readonly_fields = [
        "battery",
        "other_integration",
        "last_synced_at",
        "removed_at",
        "created_at",
    ]
    inlines = [UnmanagedCodeInline]
    # One count per page: "N results (M total)" would count the whole table again.
    show_full_result_count = False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(_listings=related_count(LockAssignment.objects.all(), "device"))
        )

    @admin.display(description="kind", ordering="kind")
    def kind_note(self, obj):
        note = obj.codes_unsupported
        if not note:
            return obj.get_kind_display()
        return format_html("{}<div class='help'>{}</div>", obj.get_kind_display(), note)

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


class LockAssignmentForm(forms.ModelForm):
    """The rules every surface shares (locks.services), as field errors."""

    class Meta:
        model = LockAssignment
        fields = ["listing", "device", "role", "guest_access", "staff_access", "label"]

    def clean(self):
        cleaned = super().clean()
        listing, device = cleaned.get("listing"), cleaned.get("device")
        if listing is None or device is None:
            return cleaned
        problems = lock_services.assignments_problems(
            listing=listing,
            devices=[device],
            role=cleaned.get("role") or LockAssignment.Role.SECONDARY,
            replacing=self.instance if self.instance.pk else None,
        )
        for problem in problems:
            self.add_error("role" if "primary" in problem else "device", problem)
        return cleaned


@admin.register(LockAssignment)
class LockAssignmentAdmin(OrganizationScopedAdmin):
    list_display = [
        "device",
        "label",
        "listing",
        "role",
        "guest_access",
        "staff_access",
        "property",
    ]
    list_filter = [
        "role",
        "guest_access",
        "staff_access",
        ("listing__property", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["device", "listing__property"]
    search_fields = ["device__name", "label", "listing__name", "listing__external_id"]
    autocomplete_fields = ["listing", "device"]

    @admin.display(description="property", ordering="listing__property__name")
    def property(self, obj):
        return obj.listing.property

    form = LockAssignmentForm

    # Every write through locks.services, as from the listing's inline, the API and the
    # import: the same rules, and the listing's stays re-plan.

    def save_model(self, request, obj, form, change):
        data = {
            "role": obj.role,
            "guest_access": obj.guest_access,
            "staff_access": obj.staff_access,
            "label": obj.label,
        }
        if not change:
            saved = lock_services.assignment_create(listing=obj.listing, device=obj.device, **data)
        else:
            stored = LockAssignment.objects.select_related("listing", "device").get(pk=obj.pk)
            if (stored.listing_id, stored.device_id) != (obj.listing_id, obj.device_id):
                saved = lock_services.assignment_move(
                    assignment=stored, listing=obj.listing, device=obj.device, **data
                )
            else:
                saved = lock_services.assignment_update(assignment=stored, **data)
        obj.pk = saved.pk  # a moved assignment is a new row: the history points at it

    def delete_model(self, request, obj):
        lock_services.assignment_delete(assignment=obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for assignment in queryset:
                lock_services.assignment_delete(assignment=assignment)


class LeftoverFilter(admin.SimpleListFilter):
    title = "leftover"
    parameter_name = "leftover"

    def lookups(self, request, model_admin):
        return [("yes", "Marked leftover"), ("no", "Not marked")]

    def queryset(self, request, queryset):
        if self.value() in {"yes", "no"}:
            return queryset.filter(leftover_at__isnull=self.value() == "no")
        return queryset


@admin.register(UnmanagedCode)
class UnmanagedCodeAdmin(ReadOnlyScopedAdmin):
    list_display = [
        "display_name",
        "masked_code",
        "device",
        "window",
        "first_seen_at",
        "last_seen_at",
        "leftover",
    ]
    list_filter = [LeftoverFilter, ("device", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["device"]
    search_fields = ["name", "device__name"]
    ordering = ["device__name", "name"]
    fields = [
        "name",
        "masked_code",
        "device",
        "window",
        "status",
        "first_seen_at",
        "last_seen_at",
        "leftover",
    ]
    readonly_fields = fields

    @admin.display(description="leftover", ordering="leftover_at")
    def leftover(self, obj):
        return _leftover(obj)

    @admin.display(description="name", ordering="name")
    def display_name(self, obj):
        return obj.display_name

    @admin.display(description="code")
    def masked_code(self, obj):
        return obj.masked

    @admin.display(description="valid")
    def window(self, obj):
        return _window(obj)


@admin.register(LeftoverRemoval)
class LeftoverRemovalAdmin(ReadOnlyScopedAdmin):
    """The record of every leftover code a manager had removed: who, when, which code
    (masked), the result. Written only by locks.leftovers."""

    list_display = [
        "device",
        "code_name",
        "code_hint",
        "requested_by_name",
        "requested_at",
        "state",
        "finished_at",
        "attempts",
    ]
    list_filter = ["state", ("device", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["device"]
    search_fields = ["code_name", "device__name", "requested_by_name"]
    fields = [
        "device",
        "code_name",
        "code_hint",
        "provider_id",
        "requested_by_name",
        "requested_at",
        "state",
        "sent_at",
        "finished_at",
        "result",
        "attempts",
        "last_error",
        "last_error_at",
        "due_at",
    ]
    readonly_fields = fields


# ------------------------------------------------------------------ listings
# The Listing admin lives here (its model stays properties.Listing, so its URLs stay
# /admin/properties/listing/…): it shows and writes lock assignments, which properties
# may not know.

INLINE_MESSAGES = {
    AssignmentRule.ONE_PRIMARY: ("role", "This listing already has a primary lock."),
    AssignmentRule.DEVICE_ONCE: ("device", "This device is already assigned to this listing."),
    AssignmentRule.DEVICE_REMOVED: (
        "device",
        "This device was removed at the provider: it cannot be assigned.",
    ),
    AssignmentRule.OTHER_ORGANIZATION: (
        "device",
        "This device belongs to another organization than the listing.",
    ),
}


class LockAssignmentFormSet(forms.BaseInlineFormSet):
    """Checks across the rows of one save (each row alone cannot see the others), with the
    rules every surface shares (`locks.services.assignment_problems`)."""

    def clean(self):
        super().clean()
        listing = self.instance
        organization_id = listing.organization_id or (
            listing.property.organization_id if listing.property_id else None
        )
        if organization_id is None:
            return  # the listing's own form reports the missing property
        kept = []
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or self._should_delete_form(form):
                continue
            device = form.cleaned_data.get("device")
            if device is None:
                continue
            assigned = form.instance.pk is not None and "device" not in form.changed_data
            role = form.cleaned_data.get("role") or LockAssignment.Role.SECONDARY
            kept.append((form, device_seat(device, role=role, assigned=assigned)))
        seats = [seat for _form, seat in kept]
        for problem in assignment_problems(organization_id=organization_id, seats=seats):
            field, message = INLINE_MESSAGES[problem.rule]
            kept[problem.index][0].add_error(field, message)


class LockAssignmentInline(ManagerOnlyInline, admin.TabularInline):
    model = LockAssignment
    formset = LockAssignmentFormSet
    extra = 0
    autocomplete_fields = ["device"]
    fields = ["device", "label", "role", "guest_access", "staff_access"]


class PrimaryLockFilter(admin.SimpleListFilter):
    title = "primary lock"
    parameter_name = "primary_lock"

    def lookups(self, request, model_admin):
        return [("yes", "Has a primary lock"), ("no", "No primary lock")]

    def queryset(self, request, queryset):
        has_primary = queryset.filter(assignments__role=LockAssignment.Role.PRIMARY)
        if self.value() == "yes":
            return queryset.filter(pk__in=has_primary.values("pk"))
        if self.value() == "no":
            return queryset.exclude(pk__in=has_primary.values("pk"))
        return queryset


# The fields of the listing form that the services write.
LISTING_FORM_FIELDS = [
    "property",
    "name",
    "external_id",
    "active",
    "check_in_time",
    "check_out_time",
    "buffer_before_minutes",
    "buffer_after_minutes",
    "code_lead_time_minutes",
    "override_max_extension_minutes",
    "code_length",
    "code_style",
    "prearrival_check_hours",
    "language",
    "check_in_instructions",
    "requires_verification",
    "turnovers_enabled",
    "default_crew_member",
    "turnover_minutes",
    "turnover_buffer_minutes",
    "early_check_in_max_minutes",
]


@admin.register(Listing)
class ListingAdmin(ListingImportExportMixin, OrganizationScopedAdmin):
    ordering = ["property__name", "name"]
    list_display = [
        "name",
        "property",
        "external_id",
        "primary_lock",
        "primary_lock_state",
        "lock_count",
        "active",
    ]
    list_filter = [
        ("property", admin.RelatedOnlyFieldListFilter),
        ("organization", admin.RelatedOnlyFieldListFilter),
        "active",
        PrimaryLockFilter,
    ]
    list_select_related = ["property"]
    search_fields = ["name", "external_id", "property__name"]
    # One count per page: "N results (M total)" would count the whole table again.
    show_full_result_count = False
    autocomplete_fields = ["property"]
    inlines = [LockAssignmentInline]
    fieldsets = [
        (None, {"fields": ["property", "name", "external_id", "active"]}),
        (
            "Stay and code settings",
            {
                "description": "Empty fields use the property's times and Keystay's defaults.",
                "fields": [
                    ("check_in_time", "check_out_time"),
                    ("buffer_before_minutes", "buffer_after_minutes"),
                    ("code_lead_time_minutes", "override_max_extension_minutes"),
                    ("code_length", "code_style"),
                    "prearrival_check_hours",
                ],
            },
        ),
        ("Guests", {"fields": ["language", "check_in_instructions", "requires_verification"]}),
        (
            "Turnovers",
            {
                "description": (
                    "Each gap between stays is a turnover with its own code on the doors "
                    "with staff access."
                ),
                "fields": [
                    ("turnovers_enabled", "default_crew_member"),
                    ("turnover_minutes", "turnover_buffer_minutes"),
                    "early_check_in_max_minutes",
                ],
            },
        ),
    ]
    readonly_fields = ["codes_made_outside"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "language":
            return language_field(db_field, blank_label="the organization's")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None:
            fieldsets.append(
                (
                    "Codes made outside Keystay on this listing's locks (read-only)",
                    {"fields": ["codes_made_outside"]},
                )
            )
        return fieldsets

    @admin.display(description="codes")
    def codes_made_outside(self, obj):
        from .selectors import unmanaged_codes_for_listing

        return unmanaged_codes_html(unmanaged_codes_for_listing(obj))

    def get_queryset(self, request):
        primaries = LockAssignment.objects.filter(role=LockAssignment.Role.PRIMARY).select_related(
            "device"
        )
        return (
            super()
            .get_queryset(request)
            .annotate(_locks=related_count(LockAssignment.objects.all(), "listing"))
            .prefetch_related(Prefetch("assignments", primaries, to_attr="_primary"))
        )

    def _primary_device(self, obj):
        primary = getattr(obj, "_primary", None)
        return primary[0].device if primary else None

    @admin.display(description="primary lock")
    def primary_lock(self, obj):
        device = self._primary_device(obj)
        return device.name if device else "—"

    @admin.display(description="lock state")
    def primary_lock_state(self, obj):
        device = self._primary_device(obj)
        if device is None:
            return "—"
        state = "online" if device.online else "OFFLINE"
        if device.battery_percent is not None:
            state += f", battery {device.battery_percent}%"
        return state

    @admin.display(description="locks", ordering="_locks")
    def lock_count(self, obj):
        return obj._locks

    # Writes go through the services, as from the API: they validate and re-plan stays.

    def save_model(self, request, obj, form, change):
        fields = {name: getattr(obj, name) for name in LISTING_FORM_FIELDS if name in form.fields}
        if not change:
            fields.pop("property")
            created = property_services.listing_create(property=obj.property, **fields)
            form.instance = created
            # The admin logs the addition and answers it ("Save and continue editing", the
            # message's link) with the object it passed in, not `form.instance`: without the
            # stored row's id it sent the manager to /listing/None/change/, a 404.
            obj.pk = created.pk
            obj._state.adding = False
            return
        # The service compares with the stored listing to know what changed (the form has
        # already put the new values on `obj`).
        stored = Listing.objects.select_related("property").get(pk=obj.pk)
        form.instance = property_services.listing_update(listing=stored, **fields)

    def save_formset(self, request, form, formset, change):
        if formset.model is not LockAssignment:
            return super().save_formset(request, form, formset, change)
        listing = form.instance
        formset.save(commit=False)  # sorts the rows into deleted, changed and new
        with transaction.atomic():
            for assignment in formset.deleted_objects:
                lock_services.assignment_delete(assignment=assignment)
            changed = []
            for assignment, fields in formset.changed_objects:
                if "device" in fields:  # another device on the row: the old one leaves
                    stored = LockAssignment.objects.get(pk=assignment.pk)
                    lock_services.assignment_delete(assignment=stored)
                    formset.new_objects.append(assignment)
                else:
                    changed.append(assignment)
            # Demotions first: the database allows one primary per listing at every moment.
            changed.sort(key=lambda a: a.role == LockAssignment.Role.PRIMARY)
            for assignment in changed:
                lock_services.assignment_update(
                    assignment=LockAssignment.objects.get(pk=assignment.pk),
                    role=assignment.role,
                    guest_access=assignment.guest_access,
                    staff_access=assignment.staff_access,
                    label=assignment.label,
                )
            for assignment in formset.new_objects:
                lock_services.assignment_create(
                    listing=listing,
                    device=assignment.device,
                    role=assignment.role,
                    guest_access=assignment.guest_access,
                    staff_access=assignment.staff_access,
                    label=assignment.label,
                )
