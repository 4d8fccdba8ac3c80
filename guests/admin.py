"""Guest messages in the admin: templates (managers edit, staff read, both preview), the
list of every delivery, and the reservation page's buttons (email now, copy the text,
copy the link), each a POST with its CSRF token, scoped to the person's organizations."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from core import access
from core.admin_scoping import OrganizationScopedAdmin, ReadOnlyScopedAdmin
from core.exports import RecordsExportMixin
from core.languages import language_field
from core.text import counted
from core.timezones import format_instant
from reservations.doors import send_problem
from reservations.models import Reservation, Turnover

from . import crew_messages, selectors, services
from .content import compose
from .models import GuestMessage, MessageTemplate
from .panel import describe, how_sent
from .placeholders import PLACEHOLDERS
from .resources import GuestMessageResource

State = GuestMessage.State
Channel = GuestMessage.Channel

# How many stays the preview offers to pick from (the nearest coming ones).
PREVIEW_CHOICES = 50


def _placeholder_help() -> str:
    return format_html(
        "Placeholders, written in braces (<code>{{{{ }}}}</code> writes a brace):<ul>{}</ul>",
        format_html_join("", "<li><code>{{{}}}</code> — {}</li>", PLACEHOLDERS.items()),
    )


class MessageTemplateForm(forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = [
            "organization",
            "listing",
            "kind",
            "language",
            "send_hours_before",
            "subject",
            "body",
            "active",
        ]
        widgets = {"body": forms.Textarea(attrs={"rows": 16, "cols": 90})}

    # Asked only when the save would email guests at once (see clean()).
    email_now = forms.BooleanField(
        required=False,
        label="Email them now",
        help_text="Tick to save even though guests are emailed their door codes at once.",
    )

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        template = self.instance
        for name in ("organization", "listing", "kind", "send_hours_before", "active"):
            if name in data:
                setattr(template, name, data[name])
        if template.listing_id and not template.organization_id:
            template.organization_id = template.listing.organization_id
        waiting = selectors.stays_emailed_on_save(template).count()
        if waiting and not data.get("email_now"):
            hours = template.send_hours_before
            guests = (
                "1 guest whose check-in is"
                if waiting == 1
                else f"{waiting} guests whose check-in is"
            )
            self.add_error(
                "email_now",
                f"Saving emails {guests} within {hours} h their door codes now, at once. "
                "Tick “Email them now” to save anyway, or change the send time.",
            )
        return data


@admin.register(MessageTemplate)
class MessageTemplateAdmin(OrganizationScopedAdmin):
    form = MessageTemplateForm
    list_display = [
        "__str__",
        "kind",
        "language",
        "organization",
        "where",
        "schedule",
        "active",
        "is_default",
        "updated_at",
    ]
    list_filter = [
        "kind",
        "language",
        "active",
        "is_default",
        ("listing", admin.RelatedOnlyFieldListFilter),
    ]
    actions = ["switch_on_ready_made"]
    list_select_related = ["organization", "listing"]
    search_fields = ["subject", "listing__name"]
    autocomplete_fields = ["listing"]
    readonly_fields = ["placeholders", "preview_link", "is_default"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "language":
            return language_field(db_field)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (
                None,
                {
                    "fields": [
                        "organization",
                        "listing",
                        "kind",
                        "language",
                        "active",
                        "is_default",
                    ]
                },
            ),
            ("When", {"fields": ["send_hours_before", "email_now"]}),
            ("Message", {"fields": ["subject", "body", "placeholders"]}),
        ]
        if obj is not None:
            fieldsets.append(("Preview", {"fields": ["preview_link"]}))
        return fieldsets

    @admin.display(description="placeholders")
    def placeholders(self, obj=None):
        return _placeholder_help()

    @admin.display(description="preview")
    def preview_link(self, obj):
        url = reverse("admin:guests_messagetemplate_preview", args=[obj.pk])
        return format_html('<a href="{}">Preview it for a reservation</a>', url)

    @admin.display(description="listing")
    def where(self, obj):
        return obj.listing.name if obj.listing_id else "every listing"

    @admin.display(description="sent")
    def schedule(self, obj):
        if obj.kind == MessageTemplate.Kind.CHANGED:
            return "after a change, once the guest was told"
        if obj.send_hours_before is None:
            return "by hand"
        return f"{obj.send_hours_before} h before check-in"

    @admin.action(
        description="Switch on the selected ready-made templates", permissions=["change"]
    )
    def switch_on_ready_made(self, request, queryset):
        organization_ids = sorted(
            set(queryset.filter(is_default=True).values_list("organization_id", flat=True))
        )
        off = queryset.filter(is_default=True, active=False).values_list("pk", flat=True)
        count = services.ready_made_templates_switch_on(
            organization_ids=organization_ids, template_ids=list(off)
        )
        self.message_user(
            request,
            f"{count} ready-made template{'s' if count != 1 else ''} switched on: "
            "guests of coming stays are emailed with them from now on.",
            messages.SUCCESS if count else messages.WARNING,
        )

    # Writes go through the services: they check placeholders and re-plan the stays.

    def save_model(self, request, obj, form, change):
        services.template_save(template=obj)

    def delete_model(self, request, obj):
        services.template_delete(template=obj)

    def delete_queryset(self, request, queryset):
        for template in queryset:
            services.template_delete(template=template)

    def get_urls(self):
        return [
            path(
                "<int:template_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="guests_messagetemplate_preview",
            ),
        ] + super().get_urls()

    def preview_view(self, request, template_id):
        """The template rendered for a reservation of its organization, picked from the
        nearest coming stays (or any of them by `?reservation=<id>`)."""
        template = get_object_or_404(self.get_queryset(request), pk=template_id)
        stays = Reservation.objects.filter(organization_id=template.organization_id)
        if template.listing_id:
            stays = stays.filter(listing_id=template.listing_id)
        choices = list(
            stays.filter(check_out__gt=timezone.now())
            .select_related("listing__property")
            .order_by("check_in")[:PREVIEW_CHOICES]
        )
        chosen = None
        rendered = None
        problem = None
        wanted = request.GET.get("reservation")
        if wanted:
            # isascii: "²" passes isdigit() but not int().
            if not (wanted.isascii() and wanted.isdigit() and len(wanted) < 19):
                raise Http404
            chosen = get_object_or_404(
                stays.select_related("listing__property", "organization"), pk=int(wanted)
            )
            told = services.told_facts(chosen)
            rendered = compose(
                chosen, template.kind, told=told, template=template, request=request
            )
            problem = send_problem(chosen)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Preview: {template}",
            "template": template,
            "choices": choices,
            "chosen": chosen,
            "rendered": rendered,
            "problem": problem,
        }
        return TemplateResponse(request, "admin/guests/preview.html", context)


class StateFilter(admin.SimpleListFilter):
    title = "outcome"
    parameter_name = "outcome"

    def lookups(self, request, model_admin):
        return [("failing", "Failing or failed"), ("waiting", "Waiting to be sent")]

    def queryset(self, request, queryset):
        if self.value() == "failing":
            return queryset.filter(state__in=[State.RETRYING, State.FAILED])
        if self.value() == "waiting":
            return queryset.filter(state__in=GuestMessage.PENDING_STATES)
        return queryset


class AboutFilter(admin.SimpleListFilter):
    title = "to"
    parameter_name = "to"

    def lookups(self, request, model_admin):
        return [("guest", "A guest (a stay)"), ("crew", "The crew (a turnover)")]

    def queryset(self, request, queryset):
        if self.value() == "guest":
            return queryset.filter(reservation__isnull=False)
        if self.value() == "crew":
            return queryset.filter(turnover__isnull=False)
        return queryset


def _reservation_page(reservation_id: int) -> str:
    return reverse("admin:reservations_reservation_change", args=[reservation_id])


def _turnover_page(turnover_id: int) -> str:
    return reverse("admin:reservations_turnover_change", args=[turnover_id])


def _holder_page(message: GuestMessage) -> str:
    if message.turnover_id is not None:
        return _turnover_page(message.turnover_id)
    return _reservation_page(message.reservation_id)


@admin.register(GuestMessage)
class GuestMessageAdmin(RecordsExportMixin, ReadOnlyScopedAdmin):
    """Every delivery to a guest, or to a turnover's crew; members look, the services
    write."""

    resource_classes = [GuestMessageResource]

    list_display = [
        "created",
        "to",
        "guest",
        "listing",
        "kind",
        "channel",
        "trigger",
        "state_badge",
        "outcome",
        "tries",
    ]
    list_filter = [StateFilter, AboutFilter, "state", "channel", "kind", "trigger"]
    list_select_related = [
        "reservation__listing__property",
        "turnover__listing__property",
        "turnover__assignee",
        "sent_by",
    ]
    search_fields = [
        "reservation__guest_name",
        "recipient",
        "reservation__listing__name",
        "turnover__assignee__name",
        "turnover__listing__name",
    ]
    date_hierarchy = "created_at"
    actions = ["retry_selected"]
    fields = [
        "reservation",
        "turnover",
        "kind",
        "channel",
        "trigger",
        "state",
        "recipient",
        "due_at",
        "sent_at",
        "sent_by",
        "attempts",
        "last_error",
        "last_error_at",
        "note",
        "created_at",
    ]
    readonly_fields = fields

    @admin.display(description="created (the property's local time)", ordering="created_at")
    def created(self, obj):
        # In the zone its "what happened" column uses: one zone per row.
        return format_instant(obj.created_at, obj.zone)

    @admin.display(description="to")
    def to(self, obj):
        return "turnover" if obj.is_crew else "guest"

    @admin.display(description="attempts", ordering="attempts")
    def tries(self, obj):
        # `attempts` counts the failed tries of an email: one that went out took one more
        # ("0" read as "never tried"). Copies by staff are not tried at all.
        if obj.channel in (Channel.COPY_TEXT, Channel.COPY_LINK):
            return "—"
        if obj.state == State.SENT and obj.channel == Channel.EMAIL:
            return obj.attempts + 1
        return obj.attempts or "—"

    @admin.display(description="guest or crew", ordering="reservation__guest_name")
    def guest(self, obj):
        if obj.is_crew:
            who = obj.turnover.assignee.title if obj.turnover.assignee_id else "Turnover crew"
            return format_html('<a href="{}">{}</a>', _turnover_page(obj.turnover_id), who)
        url = _reservation_page(obj.reservation_id)
        return format_html('<a href="{}">{}</a>', url, obj.reservation.guest_name)

    @admin.display(description="listing")
    def listing(self, obj):
        return (obj.turnover or obj.reservation).listing.name

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj):
        color = {
            State.SENT: "#2e7d32",
            State.RETRYING: "#c62828",
            State.FAILED: "#c62828",
            State.PLANNED: "#555",
        }.get(obj.state, "#777")
        return format_html('<strong style="color:{}">{}</strong>', color, obj.get_state_display())

    @admin.display(description="what happened")
    def outcome(self, obj):
        zone = obj.zone
        if obj.state == State.SENT:
            return how_sent(obj)
        return describe(obj, zone)[1]

    @admin.action(description="Retry the selected failed emails now")
    def retry_selected(self, request, queryset):
        retried = 0
        for message in queryset.filter(state__in=[State.RETRYING, State.FAILED]):
            try:
                retried += services.message_retry_now(message=message)
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.WARNING)
        self.message_user(
            request, f"{counted(retried, 'email')} being sent again.", messages.SUCCESS
        )

    # The reservation page's buttons (rendered by guests.panel).

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "reservation/<int:reservation_id>/email/",
                view(self.email_view),
                name="guests_reservation_email",
            ),
            path(
                "reservation/<int:reservation_id>/copy-text/",
                view(self.copy_text_view),
                name="guests_reservation_copy_text",
            ),
            path(
                "reservation/<int:reservation_id>/copy-link/",
                view(self.copy_link_view),
                name="guests_reservation_copy_link",
            ),
            path(
                "turnover/<int:turnover_id>/email/",
                view(self.turnover_email_view),
                name="guests_turnover_email",
            ),
            path(
                "<int:message_id>/retry/",
                view(self.retry_view),
                name="guests_guestmessage_retry",
            ),
        ] + super().get_urls()

    def _reservation(self, request, reservation_id: int) -> Reservation:
        """The reservation, among the person's organizations only (404 otherwise)."""
        reservation = get_object_or_404(
            access.scope_queryset(
                Reservation.objects.select_related("listing__property", "organization"),
                request.user,
            ),
            pk=reservation_id,
        )
        if not access.can_view(request.user, reservation):
            raise Http404
        return reservation

    def email_view(self, request, reservation_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        reservation = self._reservation(request, reservation_id)
        try:
            message = services.message_send_now(
                reservation=reservation, by=request.user, request=request
            )
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
        else:
            zone = reservation.listing.property.zone
            if message.state == State.SENT:
                self.message_user(request, f"Emailed to {message.recipient}.", messages.SUCCESS)
            else:
                self.message_user(
                    request, f"Not sent yet: {describe(message, zone)[1]}", messages.ERROR
                )
        return HttpResponseRedirect(_reservation_page(reservation.pk))

    def _copy_page(self, request, reservation, title, how, fields):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "reservation": reservation,
            "how": how,
            "fields": fields,
            "back_url": _reservation_page(reservation.pk),
        }
        return TemplateResponse(request, "admin/guests/copy.html", context)

    def copy_text_view(self, request, reservation_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        reservation = self._reservation(request, reservation_id)
        try:
            composed = services.message_copy_text(
                reservation=reservation, by=request.user, request=request
            )
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return HttpResponseRedirect(_reservation_page(reservation.pk))
        rows = min(max(composed.body.count("\n") + 2, 8), 30)
        fields = [
            {"key": "subject", "label": "Subject", "value": composed.subject},
            {
                "key": "body",
                "label": "Message",
                "value": composed.body,
                "multiline": True,
                "rows": rows,
            },
        ]
        return self._copy_page(request, reservation, "Message text", "text copied", fields)

    def copy_link_view(self, request, reservation_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        reservation = self._reservation(request, reservation_id)
        try:
            url = services.message_copy_link(
                reservation=reservation, by=request.user, request=request
            )
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return HttpResponseRedirect(_reservation_page(reservation.pk))
        fields = [{"key": "link", "label": "Guest link", "value": url}]
        return self._copy_page(request, reservation, "Guest link", "link copied", fields)

    def retry_view(self, request, message_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        message = get_object_or_404(self.get_queryset(request), pk=message_id)
        try:
            services.message_retry_now(message=message)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.WARNING)
        else:
            self.message_user(request, "The email is being sent again.", messages.SUCCESS)
        return HttpResponseRedirect(_holder_page(message))

    def turnover_email_view(self, request, turnover_id):
        """The turnover page's "Email the task now" (guests.panel.turnover_panel)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        turnover = get_object_or_404(
            access.scope_queryset(Turnover.objects.all(), request.user), pk=turnover_id
        )
        if not access.can_view(request.user, turnover):
            raise Http404
        try:
            message = crew_messages.crew_message_send_now(
                turnover=turnover, by=request.user, request=request
            )
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
        else:
            if message.state == State.SENT:
                self.message_user(request, f"Emailed to {message.recipient}.", messages.SUCCESS)
            else:
                self.message_user(
                    request, f"Not sent yet: {describe(message, message.zone)[1]}", messages.ERROR
                )
        return HttpResponseRedirect(_turnover_page(turnover.pk))
