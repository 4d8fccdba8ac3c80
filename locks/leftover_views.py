"""Settings → Connections → Smart Devices → Leftover codes.

Codes other systems left on the locks, per lock with the slots they take; a manager marks
them leftover (ticked one by one, or every unmanaged code on the locks whose name matches
a pattern, previewed first) and removes them after a confirmation page that names each
door and code. Staff see the page, never its buttons. Thin views: locks.leftovers does
the work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core import access

from .leftovers import (
    claims,
    codes_on_matching_locks,
    leftover_removals_request,
    leftovers_mark,
    leftovers_unmark,
)
from .models import Device, LeftoverRemoval, LockAssignment, UnmanagedCode

PAGE = "smart_devices:leftovers"
RECENT_REMOVALS = 50


class PatternForm(forms.Form):
    pattern = forms.CharField(
        label="Lock names",
        max_length=100,
        help_text=(
            "Every code made outside Keystay on the locks whose name matches: * stands for "
            "any text (“Unit 4*”); text without * matches anywhere in the name (“gate”)."
        ),
    )


def _zone_name(device: str = "device") -> Subquery:
    """The time zone of a lock's first listing's property (primary first): the zone the
    pages show its codes' times in, named; a lock at no listing's are in UTC, named so."""
    return Subquery(
        LockAssignment.objects.filter(device=OuterRef(device))
        .order_by("role", "pk")
        .values("listing__property__time_zone")[:1]
    )


@dataclass
class LockLeftovers:
    device: Device
    codes: list[UnmanagedCode] = field(default_factory=list)

    @property
    def leftovers(self) -> int:
        return sum(1 for code in self.codes if code.leftover_at is not None)


def _codes(user, *, manage: bool = False) -> QuerySet[UnmanagedCode]:
    """Codes made outside Keystay on present locks, in the person's organizations (the
    managed ones with `manage`)."""
    return access.scope_queryset(
        UnmanagedCode.objects.filter(device__removed_at__isnull=True)
        .select_related("device__connection", "leftover_by")
        .annotate(zone_name=_zone_name())
        .order_by("device__name", "device__pk", "name", "pk"),
        user,
        manage=manage,
    )


def _by_lock(codes) -> list[LockLeftovers]:
    locks: dict[int, LockLeftovers] = {}
    for code in codes:
        locks.setdefault(code.device_id, LockLeftovers(code.device)).codes.append(code)
    return list(locks.values())


def _chosen(request: HttpRequest, data) -> list[UnmanagedCode]:
    """The codes named by `code` in the request, among those the manager may change: a
    code outside their organizations (or not a number) is a 404, never a silent skip."""
    try:
        pks = {int(value) for value in data.getlist("code")}
    except ValueError:
        raise Http404("No such code.") from None
    if not pks:
        return []
    codes = list(_codes(request.user, manage=True).filter(pk__in=pks))
    if len(codes) != len(pks):
        raise Http404("No such code.")
    return codes


def _must_manage(request: HttpRequest) -> None:
    if not access.can_manage(request.user):
        raise PermissionDenied("Only managers mark and remove leftover codes.")


def _render(request: HttpRequest, template: str, title: str, **context) -> TemplateResponse:
    context = {**admin.site.each_context(request), "title": title, **context}
    return TemplateResponse(request, template, context)


@require_GET
def leftovers(request: HttpRequest) -> HttpResponse:
    """Every lock with codes made outside Keystay, its leftovers, and recent removals."""
    user = request.user
    removals = access.scope_queryset(
        LeftoverRemoval.objects.select_related("device", "requested_by").annotate(
            zone_name=_zone_name()
        ),
        user,
    )[:RECENT_REMOVALS]
    return _render(
        request,
        "locks/leftovers.html",
        "Leftover codes",
        locks=_by_lock(_codes(user)),
        manageable=access.can_manage(user),
        managed_org_ids=access.managed_organization_ids(user),
        is_superuser=user.is_superuser,
        removals=list(removals),
        pattern_form=PatternForm(),
    )


@require_GET
def leftovers_match(request: HttpRequest) -> HttpResponse:
    """The codes a pattern would mark, before anything is marked."""
    _must_manage(request)
    form = PatternForm(request.GET or None)
    matches = refused = marked = []
    if form.is_valid():
        found = codes_on_matching_locks(
            _codes(request.user, manage=True), form.cleaned_data["pattern"]
        )
        marked = [code for code in found if code.leftover_at is not None]
        unmarked = [code for code in found if code.leftover_at is None]
        held = claims(unmarked)
        matches = [code for code in unmarked if code.pk not in held]
        refused = [(code, held[code.pk]) for code in unmarked if code.pk in held]
    return _render(
        request,
        "locks/leftovers_match.html",
        "Mark leftover codes by lock name",
        pattern_form=form,
        matches=matches,
        refused=refused,
        already=marked,
    )


@require_POST
def leftovers_mark_view(request: HttpRequest) -> HttpResponse:
    """Mark, unmark, or go on to remove the ticked codes (the leftovers page's buttons;
    the pattern preview posts here to mark what it listed)."""
    _must_manage(request)
    action = request.POST.get("action", "mark")
    codes = _chosen(request, request.POST)
    if not codes:
        messages.warning(request, "No code was ticked.")
        return redirect(PAGE)
    if action == "remove":
        return redirect(
            f"{reverse('smart_devices:leftovers_remove')}?"
            + urlencode([("code", code.pk) for code in codes])
        )
    if action == "unmark":
        count = leftovers_unmark(codes=codes)
        messages.success(request, f"{count} code{'s'[: count != 1]} no longer marked leftover.")
        return redirect(PAGE)
    result = leftovers_mark(codes=codes, user=request.user)
    if result.marked:
        messages.success(
            request,
            f"Marked {len(result.marked)} code{'s'[: len(result.marked) != 1]} as leftover: "
            + ", ".join(f"{c.display_name} on {c.device.name}" for c in result.marked)
            + ". Nothing is removed until you confirm.",
        )
    for code, reason in result.refused:
        messages.error(
            request, f"{code.display_name} on {code.device.name} cannot be a leftover: {reason}."
        )
    return redirect(PAGE)


@require_http_methods(["GET", "POST"])
def leftovers_remove(request: HttpRequest) -> HttpResponse:
    """The confirmation that names each door and code; its POST asks for the removals."""
    _must_manage(request)
    data = request.POST if request.method == "POST" else request.GET
    if data.getlist("code"):
        codes = [code for code in _chosen(request, data) if code.leftover_at is not None]
    else:  # every leftover the manager may remove
        codes = list(_codes(request.user, manage=True).filter(leftover_at__isnull=False))
    if request.method == "GET" or not codes:
        if request.method == "POST":
            messages.warning(request, "None of these codes is marked leftover any more.")
        return _render(
            request,
            "locks/leftovers_remove.html",
            "Remove leftover codes",
            locks=_by_lock(codes),
            count=len(codes),
        )
    result = leftover_removals_request(codes=codes, user=request.user)
    if result.queued:
        messages.success(
            request,
            f"Removing {len(result.queued)} leftover code{'s'[: len(result.queued) != 1]}: "
            "each counts as removed once the lock no longer lists it.",
        )
    if result.already:
        messages.info(
            request,
            "Already being removed: "
            + ", ".join(f"{c.display_name} on {c.device.name}" for c in result.already)
            + ".",
        )
    for code, reason in result.refused:
        messages.error(
            request, f"Not removed: {code.display_name} on {code.device.name}: {reason}."
        )
    return redirect(f"{reverse(PAGE)}#removals")
