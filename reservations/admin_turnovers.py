"""The turnovers in the admin: who cleans when, the crew code's state on each door, and
staff's "Done — unit ready" (reservations.turnovers.turnover_done)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from core import access as org_access
from core.admin_scoping import OrganizationScopedAdmin
from core.public_url import absolute_url
from core.text import counted
from core.timezones import format_instant

from . import panels
from .models import LockAccess, Turnover
from .selectors import failing
from .turnovers import soon, task_token, turnover_assign, turnover_code_state, turnover_done


class TurnoverAccessInline(admin.TabularInline):
    """The crew code on each staff door: read-only, the lifecycle writes it."""

    model = LockAccess
    fk_name = "turnover"
    extra = 0
    can_delete = False
    verbose_name = "door"
    verbose_name_plural = "Crew code on each door"
    fields = ["device", "state", "local_starts", "local_ends", "provider_id", "last_error"]
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super().get_queryset(request).select_related("device", "turnover__listing__property")
        )

    @admin.display(description="starts")
    def local_starts(self, obj):
        return format_instant(obj.starts_at, obj.turnover.listing.property.zone)

    @admin.display(description="ends")
    def local_ends(self, obj):
        return format_instant(obj.ends_at, obj.turnover.listing.property.zone)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return org_access.can_view(request.user, obj)


class WhenFilter(admin.SimpleListFilter):
    """The dashboard's "Turnovers today and tomorrow", one click away (the same
    condition, reservations.turnovers.soon)."""

    title = "when"
    parameter_name = "when"

    def lookups(self, request, model_admin):
        return [("soon", "Today and tomorrow")]

    def queryset(self, request, queryset):
        if self.value() == "soon":
            return queryset.filter(soon(timezone.now()))
        return queryset


class CodesFilter(admin.SimpleListFilter):
    """The turnovers of the dashboard's crew codes failing (the same condition)."""

    title = "crew code"
    parameter_name = "codes"

    def lookups(self, request, model_admin):
        return [("failing", "A lock is failing")]

    def queryset(self, request, queryset):
        if self.value() == "failing":
            # A subquery, not a join: a turnover is listed once, however many doors fail.
            matching = LockAccess.objects.filter(failing(), turnover__isnull=False)
            return queryset.filter(pk__in=matching.values("turnover_id"))
        return queryset


@admin.register(Turnover)
class TurnoverAdmin(OrganizationScopedAdmin):
    # Staff may assign a turnover and mark it done; nobody adds or deletes one (they
    # follow the stays).
    managers_only = False
    ordering = ["-starts_at"]
    list_display = [
        "listing",
        "local_start",
        "local_end",
        "assignee",
        "state",
        "impossible",
        "crew_code",
    ]
    list_filter = [
        WhenFilter,
        CodesFilter,
        "state",
        "impossible",
        ("assignee", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["listing__property", "assignee", "after_stay"]
    search_fields = ["listing__name", "assignee__name", "after_stay__guest_name"]
    fields = [
        "listing",
        "after_stay",
        "next_stay",
        "local_start",
        "local_end",
        "assignee",
        "state",
        "impossible",
        "local_started",
        "local_done",
        "done_by",
        "local_early_check_in",
        "local_notified",
        "task_link",
    ]
    readonly_fields = [f for f in fields if f != "assignee"]
    inlines = [TurnoverAccessInline]
    actions = ["mark_done"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("lock_accesses")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _zone(self, obj):
        return obj.listing.property.zone

    @admin.display(description="starts", ordering="starts_at")
    def local_start(self, obj):
        return format_instant(obj.starts_at, self._zone(obj))

    @admin.display(description="ends", ordering="ends_at")
    def local_end(self, obj):
        return format_instant(obj.ends_at, self._zone(obj))

    @admin.display(description="started (first unlock)")
    def local_started(self, obj):
        return format_instant(obj.started_at, self._zone(obj))

    @admin.display(description="done at")
    def local_done(self, obj):
        return format_instant(obj.done_at, self._zone(obj))

    @admin.display(description="next guest early from")
    def local_early_check_in(self, obj):
        return format_instant(obj.early_check_in_from, self._zone(obj))

    @admin.display(description="assignee emailed at")
    def local_notified(self, obj):
        return format_instant(obj.notified_at, self._zone(obj))

    @admin.display(description="task page")
    def task_link(self, obj):
        """The assignee's private page, to pass on another way (a crew member with a
        phone and no email); anyone holding it sees the code and may mark the unit
        ready."""
        if not obj.is_live:
            return "—"
        url = absolute_url(reverse("crew_task_page", args=[task_token(obj)]))
        return format_html('<a href="{0}" rel="noreferrer">{0}</a>', url)

    @admin.display(description="crew code")
    def crew_code(self, obj):
        return format_html("<span data-code-state>{}</span>", turnover_code_state(obj))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # Sections of the apps above (the crew's messages): see reservations.panels.
        context["turnover_panels"] = (
            panels.turnover_rendered(request, obj) if obj is not None else []
        )
        context["actions_form"] = panels.ACTIONS_FORM
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change):
        if change and "assignee" in form.changed_data:
            turnover_assign(turnover=obj, assignee=obj.assignee)

    @admin.action(description="Done — unit ready")
    def mark_done(self, request, queryset):
        now = timezone.now()
        who = request.user.get_full_name() or request.user.get_username()
        done, refused = 0, []
        for turnover in queryset:
            try:
                done += turnover_done(turnover=turnover, by=who, now=now)
            except ValidationError as error:
                refused.append(f"{turnover}: {error.messages[0]}")
        messages.success(request, f"{counted(done, 'turnover')} marked done.")
        for reason in refused:
            messages.warning(request, reason)
