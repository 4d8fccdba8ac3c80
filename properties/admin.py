from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404, HttpResponseRedirect
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from core import access
from core.admin_columns import related_count
from core.admin_scoping import ChecksDatesChangeList, OrganizationScopedAdmin
from core.exports import RecordsImportExportMixin
from core.languages import language_field
from core.widgets import TimeZoneInput

from . import services, sign_in
from .models import (
    CrewMember,
    FailedSignIn,
    Invitation,
    Listing,
    Membership,
    Organization,
    Property,
)
from .resources import CrewMemberResource, PropertyResource


@admin.register(Organization)
class OrganizationAdmin(OrganizationScopedAdmin):
    ordering = ["name"]
    list_display = ["name", "member_count", "property_count", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["created_at"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:  # a superuser's new organization starts as the service's would
            services.organization_created_announce(organization_id=obj.pk)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "default_language":
            return language_field(db_field, blank_label="the site's language")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

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


def _person_label(user) -> str:
    if user is None:
        return "—"
    return f"{user.get_username()} ({user.email})" if user.email else user.get_username()


def _member_link(user, organization_id: int):
    """A person as a link to their membership of the organization, the page about them a
    manager may open (Django's own link went to the user's page: a 403 for managers)."""
    if user is None:
        return "—"
    membership = Membership.objects.filter(user=user, organization_id=organization_id).first()
    if membership is None:
        return _person_label(user)
    url = reverse("admin:properties_membership_change", args=[membership.pk])
    return format_html('<a href="{}">{}</a>', url, _person_label(user))


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
        return ["person", "organization", "role", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        # A membership is one person in one organization: only its role changes.
        return ["person", "organization", "created_at"] if obj is not None else []

    @admin.display(description="person")
    def person(self, obj):
        # Not Django's link to the user's page: only superusers may open that one.
        return _person_label(obj.user)

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
        "invited_by_person",
        "created_at",
        "expires_at",
        "accepted_at",
        "accepted_by_person",
        "revoked_at",
    ]

    @admin.display(description="invited by")
    def invited_by_person(self, obj):
        return _member_link(obj.invited_by, obj.organization_id)

    @admin.display(description="accepted by")
    def accepted_by_person(self, obj):
        return _member_link(obj.accepted_by, obj.organization_id)

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
class PropertyAdmin(RecordsImportExportMixin, OrganizationScopedAdmin):
    # Import (with the library's preview) and export of the organization's properties.
    resource_classes = [PropertyResource]
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
    # A searchable list of every IANA zone rather than free text.

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "time_zone":
            kwargs["widget"] = TimeZoneInput()
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(_listings=related_count(Listing.objects.all(), "property"))
        )

    @admin.display(description="listings", ordering="_listings")
    def listing_count(self, obj):
        return obj._listings


@admin.register(FailedSignIn)
class FailedSignInAdmin(admin.ModelAdmin):
    """Managers see failed sign-ins to their members' accounts, and lift a lock-out (the
    person may then try again at once from that client). Nothing else is changed here."""

    list_display = ["username", "ip_address", "failures", "last_failure", "locked_until"]
    list_display_links = None
    search_fields = ["username", "ip_address"]
    ordering = ["-attempt_time"]
    actions = ["lift"]

    def get_queryset(self, request):
        return sign_in.failed_sign_ins_visible_to(request.user).order_by("-attempt_time")

    def get_changelist(self, request, **kwargs):
        return ChecksDatesChangeList

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404("No such failed sign-in among your members.")
        return obj

    def has_module_permission(self, request):
        return access.can_manage(request.user)

    def has_view_permission(self, request, obj=None):
        return access.can_manage(request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # lifted with the action, whose rows come from the scoped list only

    def has_lift_permission(self, request):
        return access.can_manage(request.user)

    @admin.display(description="failures", ordering="failures_since_start")
    def failures(self, obj):
        return obj.failures_since_start

    @admin.display(description="last failure", ordering="attempt_time")
    def last_failure(self, obj):
        return obj.attempt_time

    @admin.display(description="locked out until")
    def locked_until(self, obj):
        if not sign_in.locked_out(obj.failures_since_start):
            return "not locked"
        ends = sign_in.lock_ends_at(obj.attempt_time)
        return ends if ends > timezone.now() else "over"

    @admin.action(description="Lift the lock-out of the selected sign-ins", permissions=["lift"])
    def lift(self, request, queryset):
        # `queryset` is the scoped list narrowed to the ticked rows: a crafted POST naming
        # another organization's row finds nothing to lift.
        count = sign_in.lockouts_lift(attempts=queryset)
        self.message_user(
            request, f"Lifted {count} lock-out{pluralize(count)}: they may sign in again now."
        )


# django-otp's own device pages list every person's keys and show them as QR codes, to
# anyone given Django's model permissions. A person manages their own devices on
# /account/two-factor/; an operator resets a lost one with `manage.py two_factor_reset`.
admin.site.unregister(TOTPDevice)
admin.site.unregister(StaticDevice)


@admin.register(CrewMember)
class CrewMemberAdmin(RecordsImportExportMixin, OrganizationScopedAdmin):
    """People of the organization who open doors but are not guests (cleaners, owners,
    vendors): each turnover gives its assignee a code of their own. Imported and exported
    with the library's preview, as properties are."""

    resource_classes = [CrewMemberResource]
    ordering = ["name"]
    list_display = ["name", "kind", "email", "phone", "language", "active", "organization"]
    list_filter = ["kind", "active", ("organization", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["organization"]
    search_fields = ["name", "email", "phone"]
    fields = ["organization", "name", "kind", "email", "phone", "language", "active", "user"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "language":
            return language_field(db_field, blank_label="the organization's language")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            # Members of the person's organizations only (a user has no organization of
            # its own to scope by).
            organizations = access.managed_organization_ids(request.user)
            formfield = admin.ModelAdmin.formfield_for_foreignkey(
                self, db_field, request, **kwargs
            )
            if not request.user.is_superuser:
                formfield.queryset = formfield.queryset.filter(
                    memberships__organization_id__in=organizations
                ).distinct()
            return formfield
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
