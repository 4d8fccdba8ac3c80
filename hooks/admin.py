"""Outgoing webhooks in the admin: managers register endpoints; members see deliveries.

An endpoint's secret is made by Keystay and shown once, on the page answering its creation
or its rotation (never in a message, a session or a log); afterwards only its last four
characters name it. Deliveries are a record: nobody adds or edits one; managers resend.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html

from core import access
from core.admin_scoping import OrganizationScopedAdmin, SecretShownOnceAdmin
from core.outbound import validate_outbound_url
from reservations.signals import EVENTS

from . import payloads, services
from .models import WebhookDelivery, WebhookEndpoint

State = WebhookDelivery.State


class EndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=[(event, event) for event in EVENTS],
        widget=forms.CheckboxSelectMultiple,
        help_text="The events sent to this endpoint.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["organization", "url", "description", "events", "include_codes", "active"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        # Checked when set or changed; an unchanged URL whose DNS moved must not keep a
        # manager from switching the endpoint off (deliveries check it again anyway).
        if self.instance.pk is None or url != self.instance.url:
            validate_outbound_url(url)
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(SecretShownOnceAdmin):
    form = EndpointForm
    list_display = [
        "url",
        "description",
        "organization",
        "event_list",
        "active",
        "include_codes",
        "recent",
        "created_at",
    ]
    list_filter = [("organization", admin.RelatedOnlyFieldListFilter), "active"]
    list_select_related = ["organization"]
    search_fields = ["url", "description"]
    secret_template = "admin/hooks/webhookendpoint/secret.html"
    rotate_template = "admin/hooks/webhookendpoint/rotate.html"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _pending=Count("deliveries", filter=Q(deliveries__state=State.PENDING)),
                _failed=Count("deliveries", filter=Q(deliveries__state=State.FAILED)),
            )
        )

    def get_fields(self, request, obj=None):
        fields = ["organization", "url", "description", "events", "include_codes", "active"]
        if obj is None:
            return fields
        extra = ["signing_secret", "secret_rotated_at", "deliveries", "created_by", "created_at"]
        if self.has_change_permission(request, obj):
            extra.insert(0, "test_event")
        return [*fields, *extra]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        fixed = ["organization", "signing_secret", "secret_rotated_at", "deliveries", "test_event"]
        fixed += ["created_by", "created_at"]
        if not self.has_change_permission(request, obj):
            return [*fixed, "url", "description", "events", "include_codes", "active"]
        return fixed

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            services.endpoint_update(
                endpoint=obj,
                **{name: data[name] for name in services.UPDATABLE if name in data},
            )
            return
        created, secret = services.endpoint_create(
            organization=data["organization"],
            url=data["url"],
            events=data["events"],
            description=data.get("description", ""),
            include_codes=data.get("include_codes", True),
            active=data.get("active", True),
            created_by=request.user,
        )
        # The admin goes on with `obj` (its log entry, the answer): make it the saved one.
        for field in obj._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created, field.attname))
        obj._state.adding = False
        obj._state.db = created._state.db
        obj._keystay_secret = secret  # in memory only, for response_add

    def delete_model(self, request, obj):
        services.endpoint_delete(endpoint=obj)

    def delete_queryset(self, request, queryset):
        for endpoint in queryset:
            services.endpoint_delete(endpoint=endpoint)

    def _secret_page(self, request, endpoint, secret: str, *, title: str):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "endpoint": endpoint,
            "secret": secret,
            "changelist_url": reverse("admin:hooks_webhookendpoint_changelist"),
            "change_url": reverse("admin:hooks_webhookendpoint_change", args=[endpoint.pk]),
        }
        response = TemplateResponse(request, self.secret_template, context)
        add_never_cache_headers(response)  # no copy of the page in any cache
        return response

    def response_add(self, request, obj, post_url_continue=None):
        secret = getattr(obj, "_keystay_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        return self._secret_page(request, obj, secret, title="Webhook endpoint created")

    # Rotating the secret: a confirmation page, then the new secret, once.

    def get_urls(self):
        return [
            path(
                "<path:object_id>/test-event/",
                self.admin_site.admin_view(self.test_event_view),
                name="hooks_webhookendpoint_test",
            ),
            path(
                "<path:object_id>/rotate-secret/",
                self.admin_site.admin_view(self.rotate_view),
                name="hooks_webhookendpoint_rotate",
            ),
            *super().get_urls(),
        ]

    def rotate_view(self, request, object_id):
        endpoint = self.get_object(request, object_id)
        if not self.has_change_permission(request, endpoint):
            raise PermissionDenied
        if request.method == "POST":
            secret = services.endpoint_rotate_secret(endpoint=endpoint)
            endpoint.refresh_from_db()
            return self._secret_page(request, endpoint, secret, title="New webhook secret")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Rotate the signing secret",
            "endpoint": endpoint,
            "valid_hours": int(services.PREVIOUS_SECRET_VALID.total_seconds() // 3600),
            "change_url": reverse("admin:hooks_webhookendpoint_change", args=[endpoint.pk]),
        }
        return TemplateResponse(request, self.rotate_template, context)

    def test_event_view(self, request, object_id):
        """Send a signed test event now and show what the endpoint answered."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        endpoint = self.get_object(request, object_id)
        if not self.has_change_permission(request, endpoint):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Test event",
            "endpoint": endpoint,
            "answer": services.endpoint_test(endpoint=endpoint),
            "change_url": reverse("admin:hooks_webhookendpoint_change", args=[endpoint.pk]),
        }
        return TemplateResponse(request, "admin/hooks/webhookendpoint/test_event.html", context)

    # Columns and read-only fields.

    @admin.display(description="test")
    def test_event(self, obj):
        # Posted through the change form (no form inside a form), to the test's own view.
        url = reverse("admin:hooks_webhookendpoint_test", args=[obj.pk])
        return format_html(
            '<button type="submit" formaction="{}" formnovalidate>Send a test event</button>'
            "<br><small>{}</small>",
            url,
            "A signed endpoint.test event, sent now; the page shows what the endpoint answered.",
        )

    @admin.display(description="events")
    def event_list(self, obj):
        return ", ".join(obj.events)

    @admin.display(description="deliveries")
    def recent(self, obj):
        parts = []
        if obj._pending:
            parts.append(f"{obj._pending} pending")
        if obj._failed:
            parts.append(f"{obj._failed} failed")
        return ", ".join(parts) or "—"

    @admin.display(description="signing secret")
    def signing_secret(self, obj):
        rotate = reverse("admin:hooks_webhookendpoint_rotate", args=[obj.pk])
        return format_html(
            "{} <a class='button' href='{}'>Rotate…</a><br><small>{}</small>",
            obj.masked_secret,
            rotate,
            "Shown once, when it was made. Receivers verify the Keystay-Signature header with it.",
        )

    @admin.display(description="deliveries")
    def deliveries(self, obj):
        url = reverse("admin:hooks_webhookdelivery_changelist") + f"?endpoint__id__exact={obj.pk}"
        return format_html("<a href='{}'>{}</a>", url, "This endpoint's deliveries")


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return State.choices

    def queryset(self, request, queryset):
        if self.value() in State.values:
            return queryset.filter(state=self.value())
        return queryset


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(OrganizationScopedAdmin):
    """Every delivery: members look; managers resend (from the list or the page)."""

    list_display = [
        "created_at",
        "event",
        "endpoint",
        "reservation",
        "state_badge",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
    ]
    list_filter = [StateFilter, "event", ("endpoint", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["endpoint", "reservation__listing"]
    search_fields = ["event_id", "reservation__guest_name", "reservation__external_id"]
    date_hierarchy = "created_at"
    actions = ["resend_selected"]
    fields = [
        "event",
        "event_id",
        "occurred_at",
        "endpoint",
        "reservation",
        "state_badge",
        "attempts",
        "last_attempt_at",
        "next_attempt_at",
        "retry_until",
        "last_status_code",
        "last_error",
        "last_response",
        "delivered_at",
        "resent_at",
        "created_at",
        "body",
    ]
    readonly_fields = fields
    change_form_template = "admin/hooks/webhookdelivery/change_form.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_resend_permission(self, request, obj=None):
        return access.can_manage(request.user, obj)

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj):
        colours = {State.PENDING: "#b58900", State.DELIVERED: "#2e7d32", State.FAILED: "#c62828"}
        return format_html(
            "<strong style='color:{}'>{}</strong>", colours[obj.state], obj.get_state_display()
        )

    @admin.display(description="body (door codes hidden)")
    def body(self, obj):
        shown = json.dumps(payloads.masked(obj.payload), indent=2, sort_keys=True)
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", shown)

    @admin.action(description="Resend the selected deliveries now", permissions=["resend"])
    def resend_selected(self, request, queryset):
        count = 0
        for delivery in queryset:
            services.delivery_resend(delivery=delivery)
            count += 1
        self.message_user(request, f"{count} delivery(ies) will be sent again now.")

    def get_urls(self):
        return [
            path(
                "<path:object_id>/resend/",
                self.admin_site.admin_view(self.resend_view),
                name="hooks_webhookdelivery_resend",
            ),
            *super().get_urls(),
        ]

    def resend_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        delivery = self.get_object(request, object_id)
        if not self.has_resend_permission(request, delivery):
            raise PermissionDenied
        services.delivery_resend(delivery=delivery)
        self.message_user(request, "The delivery will be sent again now.", messages.SUCCESS)
        return HttpResponseRedirect(
            reverse("admin:hooks_webhookdelivery_change", args=[delivery.pk])
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["resend_url"] = (
            reverse("admin:hooks_webhookdelivery_resend", args=[obj.pk])
            if obj is not None and self.has_resend_permission(request, obj)
            else None
        )
        return super().render_change_form(request, context, add, change, form_url, obj)
