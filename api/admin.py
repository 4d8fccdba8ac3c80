"""Organization API keys in the admin: their organization's managers make and revoke them.

Staff never see keys (a key may carry the manager role). The organization field offers
only organizations the person manages, and a POST naming another is refused like an
unknown choice. The full key is shown once, on the page answering the creation, and
stored nowhere in clear (not in a message, a session or a log entry); afterwards only its
prefix names it.
"""

from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from rest_framework_api_key.models import APIKey

from core import access
from core.admin_scoping import SecretShownOnceAdmin
from core.text import counted

from .models import OrganizationAPIKey
from .services import api_key_create, api_key_revoke

# The library's own, unscoped key model is not used: keep it off the admin.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)

ADD_FIELDS = ["name", "organization", "role", "expiry_date"]
CHANGE_FIELDS = [
    "name",
    "organization",
    "role",
    "prefix",
    "created",
    "created_by",
    "last_used_at",
    "expiry_date",
    "revoked",
    "revoked_at",
]
FIXED_AFTER_CREATION = [
    # A key keeps its organization and role: another role is another key.
    "organization",
    "role",
    "prefix",
    "created",
    "created_by",
    "last_used_at",
    "revoked_at",
]


@admin.register(OrganizationAPIKey)
class OrganizationAPIKeyAdmin(SecretShownOnceAdmin):
    list_display = ["name", "organization", "role", "prefix", "created", "last_used_at", "state"]
    list_filter = ["role", "revoked"]
    list_select_related = ["organization"]
    search_fields = ["name", "prefix"]
    actions = ["revoke_selected"]
    created_template = "admin/api/organizationapikey/created.html"

    # Managers only, even to look: a staff member of the organization sees no keys.

    def get_queryset(self, request):
        return access.scope_queryset(super().get_queryset(request), request.user, manage=True)

    def has_module_permission(self, request):
        return access.can_manage(request.user)

    def has_view_permission(self, request, obj=None):
        return access.can_manage(request.user, obj)

    def has_change_permission(self, request, obj=None):
        # A revoked key is kept for the record and shown read-only.
        if obj is not None and obj.revoked:
            return False
        return access.can_manage(request.user, obj)

    # The forms.

    def get_fields(self, request, obj=None):
        return ADD_FIELDS if obj is None else CHANGE_FIELDS

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else FIXED_AFTER_CREATION

    def save_model(self, request, obj, form, change):
        if change:
            revoking = "revoked" in form.changed_data and obj.revoked
            if revoking:
                obj.revoked = False  # api_key_revoke sets it below, with the time
            obj.save()
            if revoking:
                api_key_revoke(api_key=obj)
            return
        data = form.cleaned_data
        created, plaintext = api_key_create(
            organization=data["organization"],
            name=data["name"],
            role=data["role"],
            created_by=request.user,
            expiry_date=data.get("expiry_date"),
        )
        # The admin goes on with `obj` (its log entry, the answer): make it the saved key.
        for field in obj._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created, field.attname))
        obj._state.adding = False
        obj._state.db = created._state.db
        obj._keystay_plaintext = plaintext  # in memory only, for response_add

    def response_add(self, request, obj, post_url_continue=None):
        plaintext = getattr(obj, "_keystay_plaintext", None)
        if plaintext is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "API key created",
            "api_key": obj,
            "plaintext": plaintext,
            "changelist_url": reverse("admin:api_organizationapikey_changelist"),
            "change_url": reverse("admin:api_organizationapikey_change", args=[obj.pk]),
        }
        response = TemplateResponse(request, self.created_template, context)
        add_never_cache_headers(response)  # no copy of the page in any cache
        return response

    # The list.

    @admin.display(description="state")
    def state(self, obj):
        if obj.revoked:
            return "revoked"
        if obj.has_expired:
            return "expired"
        return "active"

    @admin.action(description="Revoke the selected API keys", permissions=["change"])
    def revoke_selected(self, request, queryset):
        revoked = 0
        for api_key in queryset.filter(revoked=False):
            api_key_revoke(api_key=api_key)
            revoked += 1
        self.message_user(
            request,
            f"{counted(revoked, 'API key')} revoked: "
            + ("it is" if revoked == 1 else "they are")
            + " refused from now on.",
        )
