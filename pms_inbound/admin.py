"""PMS connections and their deliveries in the admin, scoped to the person's organizations.

Secrets (Guesty's signing secret, Hostaway's webhook password, Guesty's API client secret)
are typed in, stored encrypted and never rendered back; a password Keystay makes for
Hostaway is shown once, on the page answering the creation. The connection's page shows
its webhook URL and its recent deliveries; the deliveries list has them all.
"""

from __future__ import annotations

from contextvars import ContextVar

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html

from core import access
from core.admin_scoping import ReadOnlyScopedAdmin, SecretShownOnceAdmin
from core.text import counted

from . import selectors, services
from .adapters import ADAPTERS
from .models import PmsConnection, PmsDelivery

Status = PmsDelivery.Status
# The request a change page is drawn for: its read-only columns cannot take it as an
# argument, and the admin object is shared by every thread (a context variable is not).
_current_request: ContextVar = ContextVar("pms_admin_request", default=None)


class ConnectionForm(forms.ModelForm):
    webhook_secret = forms.CharField(
        required=False,
        strip=True,
        max_length=500,
        widget=forms.PasswordInput(render_value=False),
        help_text=(
            "Guesty: the webhook's signing secret (whsec_…). Hostaway: the webhook password "
            "(leave empty and Keystay makes one, shown once). Empty on change: kept."
        ),
    )
    api_client_secret = forms.CharField(
        required=False,
        strip=True,
        max_length=500,
        widget=forms.PasswordInput(render_value=False),
        label="API client secret",
        help_text="Guesty only: with the client id, Keystay fetches each guest's email and "
        "phone, which Guesty's v2 webhooks leave out. Empty on change: kept.",
    )

    class Meta:
        model = PmsConnection
        fields = ["organization", "kind", "name", "webhook_login", "api_client_id", "active"]

    def clean(self):
        data = super().clean()
        kind = data.get("kind") or getattr(self.instance, "kind", "")
        if (
            kind == PmsConnection.Kind.GUESTY
            and self.instance.pk is None
            and not data.get("webhook_secret")
        ):
            self.add_error("webhook_secret", "Paste the signing secret of Guesty's webhook.")
        return data


class RecentDeliveryInline(admin.TabularInline):
    model = PmsDelivery
    verbose_name_plural = "recent deliveries"
    fields = ["received_at", "event", "external_id", "status_badge", "reason", "reservation"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("reservation")
        recent = list(queryset.order_by("-received_at", "-pk").values_list("pk", flat=True)[:20])
        return queryset.filter(pk__in=recent)

    @admin.display(description="status")
    def status_badge(self, obj):
        return status_badge(obj)

    def has_view_permission(self, request, obj=None):
        # Membership roles decide, not Django's per-model permissions (as every page).
        return access.can_view(request.user, obj)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


BADGE_COLOURS = {
    Status.RECEIVED: "#666",
    Status.APPLIED: "#2e7d32",
    Status.IGNORED: "#8a6d00",
    Status.FAILED: "#c62828",
    Status.REFUSED: "#c62828",
}


def status_badge(delivery: PmsDelivery):
    label = delivery.get_status_display()
    if delivery.needs_attention:
        label += " — needs attention"
    return format_html(
        '<strong class="pms-delivery-{}" style="color:{}">{}</strong>',
        delivery.status,
        BADGE_COLOURS.get(delivery.status, "#666"),
        label,
    )


@admin.register(PmsConnection)
class PmsConnectionAdmin(SecretShownOnceAdmin):
    form = ConnectionForm
    list_display = ["name", "kind", "organization", "active", "health", "created_at"]
    list_filter = [("organization", admin.RelatedOnlyFieldListFilter), "kind", "active"]
    list_select_related = ["organization"]
    search_fields = ["name"]
    inlines = [RecentDeliveryInline]
    secret_template = "admin/pms_inbound/pmsconnection/secret.html"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _applied=Count("deliveries", filter=Q(deliveries__status=Status.APPLIED)),
                _failed=Count(
                    "deliveries", filter=Q(deliveries__status__in=[Status.FAILED, Status.REFUSED])
                ),
                _attention=Count("deliveries", filter=Q(deliveries__needs_attention=True)),
            )
        )

    @admin.display(description="deliveries")
    def health(self, obj):
        return format_html(
            "{} applied · {} failed or refused · {} need attention",
            obj._applied,
            obj._failed,
            obj._attention,
        )

    def get_fields(self, request, obj=None):
        editable = ["organization", "kind", "name", "webhook_login", "webhook_secret"]
        editable += ["api_client_id", "api_client_secret", "active"]
        if obj is None:
            return editable
        shown = ["webhook_url", "setup", "masked_webhook_secret", "api_secret_state"]
        if not self.has_change_permission(request, obj):
            # Never the secret inputs read-only: the admin would print the attribute.
            return [*editable[:4], *shown, "api_client_id", "active", "health_summary"]
        return [*editable[:4], *shown, "webhook_secret", *editable[5:], "health_summary"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        fixed = ["organization", "kind", "webhook_url", "setup", "masked_webhook_secret"]
        fixed += ["api_secret_state", "health_summary"]
        if not self.has_change_permission(request, obj):
            return [*fixed, "name", "webhook_login", "api_client_id", "active"]
        return fixed

    @admin.display(description="webhook URL")
    def webhook_url(self, obj):
        url = selectors.webhook_url(obj, request=_current_request.get())
        return format_html('<code id="pms-webhook-url">{}</code>', url)

    @admin.display(description="set up in the PMS")
    def setup(self, obj):
        return ADAPTERS[obj.kind].instructions

    @admin.display(description="webhook secret")
    def masked_webhook_secret(self, obj):
        return obj.masked_webhook_secret

    @admin.display(description="API client secret")
    def api_secret_state(self, obj):
        if obj.has_api_credentials:
            return "Set (guests' email and phone are fetched from the PMS)"
        if obj.kind == PmsConnection.Kind.GUESTY:
            return "Not set: stays come without email or phone, and guests cannot be messaged"
        return "Not needed"

    @admin.display(description="deliveries")
    def health_summary(self, obj):
        counts = selectors.delivery_counts(obj)
        return format_html(
            '<span id="pms-health">{} received · {} applied · {} ignored · {} failed · '
            "{} refused · {} need attention</span> — "
            '<a href="{}?connection__id__exact={}">all deliveries</a>',
            counts[Status.RECEIVED],
            counts[Status.APPLIED],
            counts[Status.IGNORED],
            counts[Status.FAILED],
            counts[Status.REFUSED],
            counts["attention"],
            reverse("admin:pms_inbound_pmsdelivery_changelist"),
            obj.pk,
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        token = _current_request.set(request)
        try:
            response = super().change_view(request, object_id, form_url, extra_context)
            if hasattr(response, "render"):
                response.render()  # the columns are drawn now, while the request is set
            return response
        finally:
            _current_request.reset(token)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            obj.save()
            services.connection_set_secrets(
                connection=obj,
                webhook_secret=data.get("webhook_secret", ""),
                api_client_secret=data.get("api_client_secret", ""),
            )
            return
        created, secret = services.connection_create(
            organization=data["organization"],
            kind=data["kind"],
            name=data["name"],
            webhook_secret=data.get("webhook_secret", ""),
            webhook_login=data.get("webhook_login", ""),
            api_client_id=data.get("api_client_id", ""),
            api_client_secret=data.get("api_client_secret", ""),
        )
        for field in obj._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created, field.attname))
        obj._state.adding = False
        obj._state.db = created._state.db
        # Shown once only when Keystay made it; a secret the manager pasted is theirs.
        if not data.get("webhook_secret"):
            obj._keystay_secret = secret

    def response_add(self, request, obj, post_url_continue=None):
        secret = getattr(obj, "_keystay_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "PMS connection created",
            "connection": obj,
            "secret": secret,
            "webhook_url": selectors.webhook_url(obj, request=request),
            "change_url": reverse("admin:pms_inbound_pmsconnection_change", args=[obj.pk]),
            "changelist_url": reverse("admin:pms_inbound_pmsconnection_changelist"),
        }
        response = TemplateResponse(request, self.secret_template, context)
        add_never_cache_headers(response)
        return response


class AttentionFilter(admin.SimpleListFilter):
    title = "attention"
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [("yes", "Needs attention")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(needs_attention=True)
        return queryset


@admin.register(PmsDelivery)
class PmsDeliveryAdmin(ReadOnlyScopedAdmin):
    list_display = [
        "received_at",
        "connection",
        "event",
        "external_id",
        "listing_external_id",
        "status_column",
        "reason",
        "reservation",
    ]
    list_filter = [
        "status",
        AttentionFilter,
        ("connection", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["connection", "reservation"]
    search_fields = ["external_id", "listing_external_id", "reason"]
    date_hierarchy = "received_at"
    actions = ["apply_again"]
    fields = [
        "connection",
        "event",
        "external_id",
        "listing_external_id",
        "source_updated_at",
        "status",
        "reason",
        "needs_attention",
        "reservation",
        "received_at",
        "processed_at",
        "attempts",
        "next_attempt_at",
        "delivery_key",
    ]
    readonly_fields = fields

    @admin.display(description="status", ordering="status")
    def status_column(self, obj):
        return status_badge(obj)

    @admin.action(description="Apply the selected failed deliveries again")
    def apply_again(self, request, queryset):
        done = 0
        for delivery in queryset.select_related("connection"):
            if not access.can_manage(request.user, delivery):
                continue
            if services.delivery_retry(delivery=delivery) is not None:
                done += 1
        self.message_user(
            request, f"{counted(done, 'delivery', 'deliveries')} applied again.", messages.INFO
        )
