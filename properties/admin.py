from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.db.models import Count, Prefetch
from django.http import HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import reverse
from import_export.admin import ImportExportMixin
from import_export.results import RowResult

from core import access
from core.admin_scoping import ManagerOnlyInline, OrganizationScopedAdmin
from locks.models import LockAssignment

from .import_forms import (
    ListingConfirmImportForm,
    ListingImportForm,
    preview_summary,
    preview_table,
)
from .models import Listing, Membership, Organization, Property
from .resources import LISTING_FORMATS, ListingResource, import_problems


@admin.register(Organization)
class OrganizationAdmin(OrganizationScopedAdmin):
    ordering = ["name"]
    list_display = ["name", "member_count", "property_count", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["created_at"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _members=Count("memberships", distinct=True),
                _properties=Count("properties", distinct=True),
            )
        )

    @admin.display(description="members", ordering="_members")
    def member_count(self, obj):
        return obj._members

    @admin.display(description="properties", ordering="_properties")
    def property_count(self, obj):
        return obj._properties

    def has_add_permission(self, request):
        # New organizations come from `manage.py create_organization` or a superuser.
        return request.user.is_superuser


class MembershipForm(forms.ModelForm):
    """Managers add people by username: the user list of the whole site is not theirs."""

    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False, help_text="For a new person only.")
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Initial password, for a new person only.",
    )

    class Meta:
        model = Membership
        fields = ["organization", "role"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["username"].initial = self.instance.user.username
            self.fields["username"].disabled = True
            for name in ("email", "password"):
                del self.fields[name]

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk:
            return cleaned
        user_model = get_user_model()
        username = cleaned.get("username")
        user = user_model.objects.filter(username=username).first() if username else None
        if user is None and username:
            if not cleaned.get("password"):
                self.add_error("password", "A new person needs an initial password.")
            else:
                try:
                    validate_password(cleaned["password"], user_model(username=username))
                except forms.ValidationError as error:
                    self.add_error("password", error)
        elif (
            user is not None
            and cleaned.get("organization")
            and Membership.objects.filter(user=user, organization=cleaned["organization"]).exists()
        ):
            self.add_error("username", "This person is already a member.")
        self._user = user
        return cleaned

    def save(self, commit=True):
        if not self.instance.pk:
            user = self._user
            if user is None:
                user = get_user_model().objects.create_user(
                    username=self.cleaned_data["username"],
                    email=self.cleaned_data.get("email", ""),
                    password=self.cleaned_data["password"],
                    is_staff=True,
                )
            elif not user.is_staff:
                user.is_staff = True
                user.save(update_fields=["is_staff"])
            self.instance.user = user
        return super().save(commit)


@admin.register(Membership)
class MembershipAdmin(OrganizationScopedAdmin):
    form = MembershipForm
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = [("organization", admin.RelatedOnlyFieldListFilter), "role"]
    list_select_related = ["user", "organization"]
    search_fields = ["user__username", "user__email", "organization__name"]


@admin.register(Property)
class PropertyAdmin(OrganizationScopedAdmin):
    ordering = ["name"]
    list_display = [
        "name",
        "organization",
        "time_zone",
        "check_in_time",
        "check_out_time",
        "listing_count",
    ]
    list_filter = [("organization", admin.RelatedOnlyFieldListFilter), "time_zone"]
    list_select_related = ["organization"]
    search_fields = ["name", "address"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_listings=Count("listings"))

    @admin.display(description="listings", ordering="_listings")
    def listing_count(self, obj):
        return obj._listings


class LockAssignmentFormSet(forms.BaseInlineFormSet):
    """Checks across the rows of one save: each row alone cannot see the others."""

    def clean(self):
        super().clean()
        primaries, devices = [], {}
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or self._should_delete_form(form):
                continue
            if form.cleaned_data.get("role") == LockAssignment.Role.PRIMARY:
                primaries.append(form)
            device = form.cleaned_data.get("device")
            if device is not None:
                devices.setdefault(device.pk, []).append(form)
        for form in primaries[1:]:
            form.add_error("role", "This listing already has a primary lock.")
        for forms_of_device in devices.values():
            for form in forms_of_device[1:]:
                form.add_error("device", "This device is already assigned to this listing.")

    def save_existing_objects(self, commit=True):
        # Swapping the primary role between two rows: save the demotion first, or the
        # database's one-primary constraint sees two primaries for a moment.
        count = self.initial_form_count()
        self.forms[:count] = sorted(
            self.forms[:count],
            key=lambda form: (
                getattr(form, "cleaned_data", {}).get("role") == LockAssignment.Role.PRIMARY
            ),
        )
        return super().save_existing_objects(commit)


class LockAssignmentInline(ManagerOnlyInline, admin.TabularInline):
    model = LockAssignment
    formset = LockAssignmentFormSet
    extra = 0
    autocomplete_fields = ["device"]
    fields = ["device", "role", "guest_access"]


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


@admin.register(Listing)
class ListingAdmin(ImportExportMixin, OrganizationScopedAdmin):
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
                ],
            },
        ),
    ]
    readonly_fields = ["codes_made_outside"]

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
        from locks.activity import unmanaged_codes_for_listing

        return render_to_string(
            "locks/_unmanaged_codes.html",
            {"unmanaged_codes": unmanaged_codes_for_listing(obj)},
        )

    def get_queryset(self, request):
        primaries = LockAssignment.objects.filter(role=LockAssignment.Role.PRIMARY).select_related(
            "device"
        )
        return (
            super()
            .get_queryset(request)
            .annotate(_locks=Count("assignments"))
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

    def save_related(self, request, form, formsets, change):
        # New locks, guest access switched, buffers or lead time changed: re-plan the codes
        # of this listing's stays, in the same transaction as the change.
        from reservations.services import listing_replan

        with transaction.atomic():
            super().save_related(request, form, formsets, change)
            if change:
                listing_replan(listing=form.instance)

    # Import and export (django-import-export): upload, preview, confirm. See resources.py.
    resource_classes = [ListingResource]
    import_formats = LISTING_FORMATS
    export_formats = LISTING_FORMATS
    import_form_class = ListingImportForm
    confirm_form_class = ListingConfirmImportForm
    import_template_name = "admin/properties/listing/import.html"
    # One history entry per import, on the organization, instead of one per listing: ten
    # thousand log rows would take a fifth of the import's time.
    skip_admin_log = True

    # Members hold roles, not Django model permissions: managers import, members export.
    def has_import_permission(self, request):
        return access.can_manage(request.user)

    def has_export_permission(self, request):
        return access.can_view(request.user)

    def _import_organizations(self, request):
        organizations = Organization.objects.order_by("name")
        if request.user.is_superuser:
            return organizations
        return organizations.filter(pk__in=access.managed_organization_ids(request.user))

    def get_import_form_kwargs(self, request):
        kwargs = super().get_import_form_kwargs(request)
        return {**kwargs, "organizations": self._import_organizations(request)}

    def get_confirm_form_kwargs(self, request, import_form=None):
        kwargs = super().get_confirm_form_kwargs(request, import_form)
        return {**kwargs, "organizations": self._import_organizations(request)}

    def get_confirm_form_initial(self, request, import_form):
        initial = super().get_confirm_form_initial(request, import_form)
        if import_form is not None:
            initial["organization"] = import_form.cleaned_data["organization"].pk
        return initial

    def get_import_resource_kwargs(self, request, **kwargs):
        # The organization comes from a validated form (upload or confirm), never the file.
        cleaned = getattr(kwargs.get("form"), "cleaned_data", None) or {}
        return {"organization": cleaned.get("organization")}

    def get_export_resource_kwargs(self, request, **kwargs):
        return {}  # the export reads the changelist's (scoped) queryset

    def import_action(self, request, **kwargs):
        response = super().import_action(request, **kwargs)
        context = getattr(response, "context_data", None) or {}
        result = context.get("result")
        if result is not None:
            context["import_problems"] = import_problems(result)
            context["import_preview"] = preview_table(result)
            context["import_summary"] = preview_summary(result)
            context["import_organization"] = context["form"].cleaned_data.get("organization")
        return response

    def process_dataset(self, dataset, form, request, **kwargs):
        result = super().process_dataset(dataset, form, request, **kwargs)
        result.keystay_organization = form.cleaned_data["organization"]
        result.keystay_file_name = form.cleaned_data["original_file_name"]
        return result

    def process_result(self, result, request):
        if result.has_errors() or result.has_validation_errors():
            # Something changed between preview and confirm: the import was rolled back.
            problems = import_problems(result)
            shown = "; ".join(str(problem) for problem in problems[:5])
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            messages.error(request, f"Nothing was imported: {shown}{more}.")
            return HttpResponseRedirect(reverse("admin:properties_listing_import"))
        totals = result.totals
        LogEntry.objects.log_actions(
            request.user.pk,
            [result.keystay_organization],
            CHANGE,
            change_message=(
                f"Imported listings from {result.keystay_file_name}: "
                f"{totals[RowResult.IMPORT_TYPE_NEW]} new, "
                f"{totals[RowResult.IMPORT_TYPE_UPDATE]} updated, "
                f"{totals[RowResult.IMPORT_TYPE_SKIP]} unchanged."
            ),
            single_object=True,
        )
        return super().process_result(result, request)

    def add_success_message(self, result, request):
        totals = result.totals
        messages.success(
            request,
            f"Import finished: {totals[RowResult.IMPORT_TYPE_NEW]} new, "
            f"{totals[RowResult.IMPORT_TYPE_UPDATE]} updated, "
            f"{totals[RowResult.IMPORT_TYPE_SKIP]} unchanged listings.",
        )
