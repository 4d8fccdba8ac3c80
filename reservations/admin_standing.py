"""Standing crew access and offboarding in the admin.

- *Standing accesses*: a crew member's code on chosen doors, its dates (empty end:
  open-ended), its working hours per property, and the code's state on each door.
  Managers write; staff read. "End now" takes the code off every door and shows the
  report.
- *Crew members* gains *Offboard*: a confirmation page (the person's doors and codes,
  masked), then the person is deactivated, every code of theirs leaves every door, and
  the report page follows. Unticking *active* in the form does the same.
- *Code clearances*: the reports, each door's code and when it was confirmed gone.
Thin: reservations.standing does the work.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from core import access as org_access
from core.admin_scoping import ManagerOnlyInline, OrganizationScopedAdmin
from core.timezones import format_instant
from properties.admin import CrewMemberAdmin
from properties.models import CrewMember

from . import panels
from .models import OPEN_END, CodeClearance, LockAccess, StandingAccess, StandingHours
from .standing import (
    EDITABLE_FIELDS,
    START_TOO_LATE,
    _codes_in_play,
    _masked,
    clearance_rows,
    clearance_zones,
    crew_offboard,
    offboarded_report,
    standing_end,
    standing_replan,
)


def _who(request) -> str:
    return request.user.get_full_name() or request.user.get_username()


def _clearance_url(clearance: CodeClearance) -> str:
    return reverse("admin:reservations_codeclearance_change", args=[clearance.pk])


class StandingHoursInline(ManagerOnlyInline, admin.StackedInline):
    # Stacked: a table of property, opens and closes is wider than a phone, and its
    # "Closes" ended up behind a sideways scroll.
    model = StandingHours
    extra = 1
    verbose_name = "working hours at a property"
    verbose_name_plural = "Working hours (each property's own clock; empty: any hour)"
    fields = ["property", "opens", "closes"]


class StandingDoorInline(admin.TabularInline):
    """The standing code on each door: read-only, the lifecycle writes it."""

    model = LockAccess
    fk_name = "standing"
    extra = 0
    can_delete = False
    verbose_name = "door"
    verbose_name_plural = "Standing code on each door"
    fields = ["device", "state", "reason", "provider_id", "attempts", "last_error"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("device")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return org_access.can_view(request.user, obj)


class StandingAccessForm(forms.ModelForm):
    class Meta:
        model = StandingAccess
        fields = ["crew_member", "listing", "doors", "starts_at", "ends_at", "note"]

    def clean(self):
        data = super().clean()
        member = data.get("crew_member")
        if member is None:
            return data
        if not member.active:
            self.add_error("crew_member", "This crew member is inactive.")
        listing = data.get("listing")
        if listing is not None and listing.organization_id != member.organization_id:
            self.add_error("listing", "Pick a listing of the crew member's organization.")
        doors = data.get("doors") or []
        if any(d.organization_id != member.organization_id for d in doors):
            self.add_error("doors", "Pick doors of the crew member's organization.")
        if listing is None and not doors:
            raise forms.ValidationError("Pick a listing (its staff doors) or doors.")
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if starts and starts >= OPEN_END:
            self.add_error("starts_at", START_TOO_LATE)
        elif starts and ends and ends <= starts:
            self.add_error("ends_at", "The end must come after the start.")
        return data


@admin.register(StandingAccess)
class StandingAccessAdmin(OrganizationScopedAdmin):
    form = StandingAccessForm
    ordering = ["crew_member__name", "starts_at"]
    list_display = ["crew_member", "listing", "local_start", "local_end", "state", "doors_state"]
    list_filter = [("crew_member", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["crew_member", "listing__property"]
    search_fields = ["crew_member__name", "listing__name", "note"]
    autocomplete_fields = ["crew_member", "listing", "doors"]
    readonly_fields = ["ended_at", "ended_by"]
    inlines = [StandingHoursInline, StandingDoorInline]
    actions = ["end_now"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("lock_accesses")

    def get_fields(self, request, obj=None):
        fields = ["crew_member", "listing", "doors", "starts_at", "ends_at", "note"]
        return fields + (["ended_at", "ended_by"] if obj else [])

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        formfield = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name == "doors":
            formfield.queryset = org_access.scope_queryset(
                formfield.queryset, request.user, manage=True
            ).filter(removed_at__isnull=True)
        return formfield

    @admin.display(description="starts", ordering="starts_at")
    def local_start(self, obj):
        return format_instant(obj.starts_at, self._zone(obj))

    @admin.display(description="ends", ordering="ends_at")
    def local_end(self, obj):
        if obj.ended_at is not None:
            return f"ended {format_instant(obj.ended_at, self._zone(obj))}"
        return format_instant(obj.ends_at, self._zone(obj)) if obj.ends_at else "open-ended"

    @admin.display(description="state")
    def state(self, obj):
        if obj.ended_at is not None or (obj.ends_at and obj.ends_at <= timezone.now()):
            return "ended"
        return "live" if obj.crew_member.active else "crew member inactive"

    @admin.display(description="code on the doors")
    def doors_state(self, obj):
        states = sorted({a.current_state() for a in obj.lock_accesses.all()})
        return ", ".join(states) or "none"

    def _zone(self, obj):
        return obj.listing.property.zone if obj.listing_id else timezone.get_current_timezone()

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # Sections of the apps above (the crew member's messages): see reservations.panels.
        context["standing_panels"] = (
            panels.standing_rendered(request, obj) if obj is not None else []
        )
        context["actions_form"] = panels.ACTIONS_FORM
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change):
        obj.organization_id = obj.crew_member.organization_id
        if change:
            # Never the code read when the form opened: the planner owns it.
            obj.save(update_fields=EDITABLE_FIELDS)
        else:
            obj.save()

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        standing_replan(standing=form.instance)  # doors (many-to-many) saved by now

    def has_delete_permission(self, request, obj=None):
        return False  # ended, never deleted: the codes' history stays

    @admin.action(description="End now: take the code off every door", permissions=["change"])
    def end_now(self, request, queryset):
        # Staff read standing accesses: only a manager of each one's organization ends it.
        standings = [s for s in queryset if org_access.can_manage(request.user, s)]
        clearances = [standing_end(standing=s, by=_who(request)) for s in standings]
        messages.success(request, f"{len(clearances)} standing access(es) ended.")
        if len(clearances) == 1:
            return HttpResponseRedirect(_clearance_url(clearances[0]))
        return None


@admin.register(CodeClearance)
class CodeClearanceAdmin(OrganizationScopedAdmin):
    """The report of one offboarding (or one standing access ended): each door, the
    code (masked), and when it was confirmed gone, pending or failing with its tries."""

    list_display = ["crew_member", "what", "local_at", "by", "progress"]
    list_select_related = ["crew_member"]
    search_fields = ["crew_member__name", "by"]
    fields = ["crew_member", "what", "local_at", "by", "turnovers_note", "report"]
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("crew_member", "standing__listing__property")
        )

    @admin.display(description="at", ordering="at")
    def local_at(self, obj):
        # On each of its doors' clocks (their properties' zones, named), never the server's.
        zones = clearance_zones(obj, clearance_rows(obj))
        return " · ".join(format_instant(obj.at, zone) for zone in zones)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="what")
    def what(self, obj):
        return "Offboarding: every code" if obj.standing_id is None else f"{obj.standing} ended"

    @admin.display(description="cleared")
    def progress(self, obj):
        rows = clearance_rows(obj)
        done = sum(r.status == "cleared" for r in rows)
        return f"{done} of {len(rows)}"

    @admin.display(description="doors")
    def report(self, obj):
        rows = clearance_rows(obj)
        if not rows:
            return "No code of theirs was on any door."

        def when(row):
            if row.status == "cleared":
                return f"cleared {format_instant(row.cleared_at, row.zone)}"
            if row.status == "failing":
                return f"failing ({row.attempts} tries, retried): {row.error}"
            return "pending: waiting for the provider to confirm it gone"

        body = format_html_join(
            "",
            '<tr class="cleared-code" data-status="{}"><td>{}</td><td>{}</td>'
            "<td><code>{}</code></td><td>{}</td></tr>",
            ((r.status, r.door, r.holder, r.masked, when(r)) for r in rows),
        )
        return format_html(
            '<table id="clearance-report"><thead><tr><th>Door</th><th>Code of</th>'
            "<th>Code</th><th>Cleared</th></tr></thead><tbody>{}</tbody></table>",
            body,
        )


# ----------------------------------------------------------------- crew members


admin.site.unregister(CrewMember)


@admin.register(CrewMember)
class CrewMemberOffboardingAdmin(CrewMemberAdmin):
    """The crew members' admin (properties) with offboarding in one act: the *Offboard*
    button and action, and *active* unticked in the form, all call crew_offboard."""

    change_form_template = "admin/reservations/crewmember/change_form.html"
    actions = ["offboard"]

    def get_search_results(self, request, queryset, search_term):
        queryset, duplicates = super().get_search_results(request, queryset, search_term)
        if request.GET.get("model_name") == "standingaccess":
            # A standing access's picker offers active people only (its form refuses others).
            queryset = queryset.filter(active=True)
        return queryset, duplicates

    def get_urls(self):
        own = [
            path(
                "<int:pk>/offboard/",
                self.admin_site.admin_view(self.offboard_view),
                name="properties_crewmember_offboard",
            )
        ]
        return own + super().get_urls()

    def offboard_view(self, request, pk):
        member = self.get_queryset(request).filter(pk=pk).first()
        if member is None:
            raise Http404("No such crew member in your organizations.")
        if not org_access.can_manage(request.user, member):
            raise PermissionDenied
        if request.method == "POST":
            done = offboarded_report(crew_member=member)
            if done is not None:
                _say_already_offboarded(request, member, done)
                return HttpResponseRedirect(_clearance_url(done))
            clearance = crew_offboard(crew_member=member, by=_who(request))
            messages.success(request, f"{member} is offboarded: every code of theirs leaves.")
            return HttpResponseRedirect(_clearance_url(clearance))
        codes = [
            (access.door_name, _masked(access.provider_code or access.code), what)
            for what, holder in _holders(member)
            for access in _codes_in_play(**holder).select_related("assignment")
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": f"Offboard {member}",
            "member": member,
            "codes": codes,
            "opts": self.model._meta,
            "original": member,
        }
        return TemplateResponse(request, "admin/reservations/crewmember/offboard.html", context)

    def save_model(self, request, obj, form, change):
        leaving = change and "active" in form.changed_data and not obj.active
        if leaving:
            obj.active = True  # crew_offboard deactivates, in the same act as the codes
        super().save_model(request, obj, form, change)
        if leaving:
            request._keystay_clearance = crew_offboard(crew_member=obj, by=_who(request))

    def response_change(self, request, obj):
        clearance = getattr(request, "_keystay_clearance", None)
        if clearance is not None:
            return HttpResponseRedirect(_clearance_url(clearance))
        return super().response_change(request, obj)

    @admin.action(
        description="Offboard: deactivate and take every code off every door",
        permissions=["change"],
    )
    def offboard(self, request, queryset):
        members = [m for m in queryset if org_access.can_manage(request.user, m)]
        clearances, newly = [], 0
        for member in members:
            done = offboarded_report(crew_member=member)
            if done is not None:
                _say_already_offboarded(request, member, done)
            else:
                done = crew_offboard(crew_member=member, by=_who(request))
                newly += 1
            clearances.append(done)
        if newly or not clearances:
            messages.success(request, f"{newly} crew member(s) offboarded.")
        if len(clearances) == 1:
            return HttpResponseRedirect(_clearance_url(clearances[0]))
        return HttpResponseRedirect(reverse("admin:reservations_codeclearance_changelist"))


def _say_already_offboarded(request, member: CrewMember, clearance: CodeClearance) -> None:
    messages.info(
        request,
        format_html(
            '{} is already offboarded: no code of theirs is left to clear. <a href="{}" '
            'class="already-offboarded">Their report</a>.',
            member,
            _clearance_url(clearance),
        ),
    )


def _holders(member: CrewMember):
    """The standing accesses and turnovers whose codes the person may know."""
    for standing in StandingAccess.objects.filter(crew_member=member).order_by("pk"):
        yield "standing", {"standing": standing}
    for turnover_id in (
        member.turnovers.filter(lock_accesses__state__in=LockAccess.LIVE_STATES)
        .values_list("pk", flat=True)
        .distinct()
    ):
        yield "turnover", {"turnover_id": turnover_id}
