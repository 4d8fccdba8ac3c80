"""The activity feed, under /admin/activity/: every lock event of the person's
organizations, newest first, filtered by property, listing, lock, person, kind and dates.

Thin: a form reads the filters (its choices scoped to the person's organizations, so that
another organization's lock cannot even be named), a selector reads the page.
"""

from __future__ import annotations

import datetime
from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from core import access
from locks.models import Device
from properties.models import Listing, Property

from .activity import feed_events, with_zones
from .models import LockEvent

PER_PAGE = 50


class ActivityFilterForm(forms.Form):
    property = forms.ModelChoiceField(queryset=Property.objects.none(), required=False)
    listing = forms.ModelChoiceField(queryset=Listing.objects.none(), required=False)
    lock = forms.ModelChoiceField(queryset=Device.objects.none(), required=False)
    person = forms.CharField(
        required=False,
        max_length=200,
        help_text="A guest's name, or the name of a code made in the lock's app.",
    )
    kind = forms.ChoiceField(
        label="Event",
        required=False,
        choices=[("", "All events"), *LockEvent.Kind.choices],
    )
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["property"].queryset = access.scope_queryset(
            Property.objects.order_by("name"), user
        )
        self.fields["listing"].queryset = access.scope_queryset(
            Listing.objects.select_related("property").order_by("property__name", "name"), user
        )
        self.fields["listing"].label_from_instance = lambda o: f"{o.property.name} · {o.name}"
        self.fields["lock"].queryset = access.scope_queryset(
            Device.objects.filter(kind=Device.Kind.LOCK).order_by("name"), user
        )

    def clean(self):
        data = super().clean()
        for name in ("date_from", "date_to"):
            day = data.get(name)
            if day and not (2000 <= day.year <= 2100):
                self.add_error(name, "Pick a date between the years 2000 and 2100.")
                data.pop(name, None)
        if data.get("date_from") and data.get("date_to") and data["date_to"] < data["date_from"]:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def filters(self) -> dict:
        """The valid filters (an invalid one is reported on the form and not applied)."""
        if not self.is_bound:
            return {}
        self.is_valid()
        data = {k: v for k, v in self.cleaned_data.items() if k not in self.errors}
        # Dates are days of the chosen property (or listing, or lock's listing), else of
        # the site's zone.
        place = data.get("listing") or data.get("property")
        if isinstance(place, Listing):
            zone = place.property.zone
        elif place is not None:
            zone = place.zone
        elif data.get("lock") is not None:
            zone = lock_zone(data["lock"]) or timezone.get_current_timezone()
        else:
            zone = timezone.get_current_timezone()

        def start_of(day):
            return datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)

        return {
            "property_id": data["property"].pk if data.get("property") else None,
            "listing_id": data["listing"].pk if data.get("listing") else None,
            "device_id": data["lock"].pk if data.get("lock") else None,
            "person": (data.get("person") or "").strip(),
            "kind": data.get("kind") or "",
            "since": start_of(data["date_from"]) if data.get("date_from") else None,
            "until": (
                start_of(data["date_to"] + datetime.timedelta(days=1))
                if data.get("date_to")
                else None
            ),
        }


def lock_zone(device: Device):
    assignment = (
        device.assignments.select_related("listing__property").order_by("role", "pk").first()
    )
    return assignment.listing.property.zone if assignment is not None else None


def _export_url(request: HttpRequest, form: ActivityFilterForm) -> str:
    """The lock events' export (reservations.resources) with this page's lock, event,
    person and dates, for a manager: the same events to take away."""
    if not request.user.has_perm("reservations.export_lockevent"):
        return ""
    filters = form.filters()
    query = {}
    if filters.get("device_id"):
        query["device__id__exact"] = filters["device_id"]
    if filters.get("kind"):
        query["kind__exact"] = filters["kind"]
    if filters.get("person"):
        query["q"] = filters["person"]
    if filters.get("since"):
        query["occurred_at__gte"] = filters["since"].isoformat(sep=" ")
    if filters.get("until"):
        query["occurred_at__lt"] = filters["until"].isoformat(sep=" ")
    url = reverse("admin:reservations_lockevent_export")
    return f"{url}?{urlencode(query)}" if query else url


@require_GET
def activity_feed(request: HttpRequest) -> HttpResponse:
    if not access.can_view(request.user):
        raise PermissionDenied("The activity feed shows your organizations' locks.")
    form = ActivityFilterForm(request.GET or None, user=request.user)
    events = feed_events(user=request.user, **form.filters())
    page = Paginator(events, PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    shown = with_zones(page.object_list)
    context = {
        **admin.site.each_context(request),
        "title": "Activity",
        "form": form,
        "page": page,
        "events": shown,
        # Events of several places are each in their own zone: the page names them all.
        "zones": sorted({str(event.zone) for event in shown if event.zone}),
        "export_url": _export_url(request, form),
        "query": query.urlencode(),
        "filtered": any(v for k, v in request.GET.items() if k != "page"),
    }
    return TemplateResponse(request, "activity/feed.html", context)
