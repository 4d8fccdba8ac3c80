from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Prefetch
from django.http import HttpResponseRedirect
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from import_export.admin import ImportExportMixin
from import_export.results import RowResult

from core import access
from core.admin_scoping import ManagerOnlyInline, OrganizationScopedAdmin
from locks.models import LockAssignment

from . import services
from .import_forms import (
    ListingConfirmImportForm,
    ListingImportForm,
    preview_summary,
    preview_table,
)
from .models import Invitation, Listing, Membership, Organization, Property
from .resources import LISTING_FORMATS, ListingResource, import_problems
from .signals import listings_changed


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
    """A role change is checked before saving: an organization keeps at least one manager."""

    class Meta:
        model = Membership
        fields = ["organization", "user", "role"]

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and "role" in cleaned:
            problem = services.membership_change_problem(
                membership=self.instance, role=cleaned["role"]
            )
            if problem:
                self.add_error("role", problem)
        return cleaned


@admin.register(Membership)
class MembershipAdmin(OrganizationScopedAdmin):
    """Managers change roles and remove members; people join through an Invitation.

    There is no "add" but for superusers: typing a username would add someone without
    their consent, and would tell a manager which usernames exist.
    """

    form = MembershipForm
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = [("organization", admin.RelatedOnlyFieldListFilter), "role"]
    list_select_related = ["user", "organization"]
    search_fields = ["user__username", "user__email", "organization__name"]
    raw_id_fields = ["user"]  # superusers only: the site's people are not a short list

    def has_add_permission(self, request):
        return request.user.is_superuser

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["organization", "user", "role"]
        return ["user", "organization", "role", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        # A membership is one person in one organization: only its role changes.
        return ["user", "organization", "created_at"] if obj is not None else []

    def get_actions(self, request):
        # Members are removed one at a time, so that the last-manager rule can answer for
        # each (the bulk action would report success for a refused removal).
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        if change:
            services.membership_update(membership=obj, role=form.cleaned_data["role"])
        else:
            created = services.membership_create(
                organization=obj.organization, user=obj.user, role=obj.role
            )
            obj.pk = created.pk

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as error:  # another manager stepped down since the check
            messages.error(request, " ".join(error.messages))
            return HttpResponseRedirect(request.path)

    def delete_model(self, request, obj):
        services.membership_delete(membership=obj)

    def delete_view(self, request, object_id, extra_context=None):
        membership = self.get_object(request, unquote(object_id))
        problem = None
        if self.has_delete_permission(request, membership):
            problem = services.membership_change_problem(membership=membership, role=None)
        if problem is None:
            try:
                return super().delete_view(request, object_id, extra_context)
            except ValidationError as error:  # someone else removed a manager meanwhile
                problem = " ".join(error.messages)
        messages.error(request, problem)
        return HttpResponseRedirect(
            reverse("admin:properties_membership_change", args=[membership.pk])
        )


class InvitationForm(forms.ModelForm):
    class Meta:
        model = Invitation
        fields = ["organization", "email", "role"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("organization") and cleaned.get("email"):
            problem = services.invitation_create_problem(
                organization=cleaned["organization"], email=cleaned["email"]
            )
            if problem:
                self.add_error("email", problem)
        return cleaned


def _public_base_url(request) -> str:
    return settings.KEYSTAY_PUBLIC_URL or request.build_absolute_uri("/")


@admin.register(Invitation)
class InvitationAdmin(OrganizationScopedAdmin):
    """Managers invite people by email; the link is emailed and shown once, here.

    Invitations are managers' business (they carry the addresses of people who are not
    members yet): staff do not see them. An invitation is never edited: it is sent
    again (a new link, the old one revoked) or revoked.
    """

    form = InvitationForm
    list_display = [
        "email",
        "organization",
        "role",
        "status",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_by",
    ]
    list_filter = [("organization", admin.RelatedOnlyFieldListFilter), "role"]
    list_select_related = ["organization", "invited_by", "accepted_by"]
    search_fields = ["email"]
    actions = ["revoke"]
    readonly_fields = [
        "status",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "accepted_by",
        "revoked_at",
    ]

    def get_queryset(self, request):
        return access.scope_queryset(super().get_queryset(request), request.user, manage=True)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["organization", "email", "role"]
        return ["organization", "email", "role", *self.readonly_fields]

    def has_module_permission(self, request):
        return access.can_manage(request.user)

    def has_view_permission(self, request, obj=None):
        return access.can_manage(request.user, obj)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # revoked, not deleted: the record of who invited whom stays

    def has_revoke_permission(self, request):
        return access.can_manage(request.user)

    @admin.display(description="status")
    def status(self, obj):
        return obj.status(timezone.now()).label

    def save_form(self, request, form, change):
        # The service writes the invitation (and makes the token): the admin only keeps
        # the link to show it once, in response_add.
        created = services.invitation_create(
            organization=form.cleaned_data["organization"],
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            invited_by=request.user,
            base_url=_public_base_url(request),
        )
        request._keystay_invitation = created
        return created.invitation

    def save_model(self, request, obj, form, change):
        pass  # saved by the service in save_form

    def save_related(self, request, form, formsets, change):
        pass  # nothing related; the form must not save its (unsaved) instance's m2m

    def response_add(self, request, obj, post_url_continue=None):
        created = request._keystay_invitation
        sent = "emailed to" if created.emailed else "created (the email could not be sent) for"
        messages.success(
            request,
            format_html(
                "Invitation {} {}. Its link works once, for {} days; it is shown only now, "
                "copy it if you want to pass it on yourself:<br><code>{}</code>",
                sent,
                obj.email,
                settings.INVITATION_MAX_AGE_DAYS,
                created.link,
            ),
        )
        return HttpResponseRedirect(reverse("admin:properties_invitation_changelist"))

    @admin.action(description="Revoke the selected invitations", permissions=["revoke"])
    def revoke(self, request, queryset):
        revoked = skipped = 0
        for invitation in queryset:
            if invitation.accepted_at is not None:
                skipped += 1
                continue
            services.invitation_revoke(invitation=invitation)
            revoked += 1
        message = f"Revoked {revoked} invitation{pluralize(revoked)}."
        if skipped:
            message += f" {skipped} accepted already: remove the member instead."
        messages.success(request, message)


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
                    "code_lead_time_minutes",
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
        from locks.selectors import unmanaged_codes_for_listing

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
        with transaction.atomic():
            super().save_related(request, form, formsets, change)
            if change:
                listings_changed.send(sender=Listing, listing_ids=[form.instance.pk])

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
