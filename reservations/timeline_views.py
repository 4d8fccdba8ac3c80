"""The timeline pages, under /admin/timeline/: a listing's doors, or a property's, drawn.

Thin: they read the range asked for, build the layout (reservations.timeline) and render.
"""

import datetime
from urllib.parse import urlencode

from django.contrib import admin
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from core.access import scope_queryset
from core.timezones import in_year_range
from properties.models import Listing, Property

from . import timeline


def _timeline_range(request, zone) -> tuple[datetime.date, int, datetime.date]:
    """The range the person asked for (`start`: its first local date, or `around`: a day to
    show with a few days before it; and `days`), else the default: a few days back, three
    weeks ahead. A bad value falls back rather than failing."""
    today = timezone.localdate(timezone=zone)
    try:
        days = int(request.GET.get("days", timeline.DEFAULT_DAYS))
    except ValueError:
        days = timeline.DEFAULT_DAYS
    days = min(max(days, 1), timeline.MAX_DAYS)
    try:
        if "around" in request.GET and "start" not in request.GET:
            first_day = timeline.default_first_day(
                datetime.date.fromisoformat(request.GET["around"])
            )
        else:
            first_day = datetime.date.fromisoformat(request.GET.get("start", ""))
    except (ValueError, OverflowError):  # OverflowError: a few days before 0001-01-01
        first_day = timeline.default_first_day(today)
    if not in_year_range(first_day) or not in_year_range(
        first_day + datetime.timedelta(days=days)
    ):
        first_day = timeline.default_first_day(today)
    return first_day, days, today


def _timeline_page(request, *, title, listings, zone, headers, place, place_url):
    first_day, days, today = _timeline_range(request, zone)
    drawing = timeline.build_timeline(
        listings=listings,
        first_day=first_day,
        days=days,
        now=timezone.now(),
        zone=zone,
        headers=headers,
    )

    def link(day: datetime.date, span: int = days) -> str:
        query = {"start": day.isoformat()}
        if span != timeline.DEFAULT_DAYS:
            query["days"] = str(span)
        return f"{request.path}?{urlencode(query)}"

    step = datetime.timedelta(days=timeline.STEP_DAYS)
    context = {
        **admin.site.each_context(request),
        "is_nav_sidebar_enabled": False,  # the picture wants the page's whole width
        "title": title,
        "place": place,
        "place_url": place_url,
        "timeline": drawing,
        "legend": timeline.LEGEND,
        "stay_legend": timeline.STAY_LEGEND,
        "first_day": first_day,
        "last_day": first_day + datetime.timedelta(days=days - 1),
        "earlier_url": link(first_day - step),
        "later_url": link(first_day + step),
        "today_url": link(timeline.default_first_day(today)),
        "ranges": [
            (label, link(first_day, span), span == days) for span, label in timeline.RANGE_CHOICES
        ],
    }
    return TemplateResponse(request, "reservations/timeline.html", context)


@require_GET
def listing_timeline(request, pk: int):
    """A listing's doors over the coming weeks. Members of its organization only: anyone
    else gets a 404, as if it did not exist."""
    listing = get_object_or_404(
        scope_queryset(Listing.objects.select_related("property"), request.user), pk=pk
    )
    return _timeline_page(
        request,
        title=f"Timeline of {listing.name}",
        listings=[listing],
        zone=listing.property.zone,
        headers=False,
        place=listing,
        place_url=reverse("admin:properties_listing_change", args=[listing.pk]),
    )


@require_GET
def property_timeline(request, pk: int):
    """Every listing of a property, one block each, in the property's zone."""
    prop = get_object_or_404(scope_queryset(Property.objects.all(), request.user), pk=pk)
    listings = list(prop.listings.order_by("name", "pk"))
    for listing in listings:
        listing.property = prop  # one property: no query per listing for its zone
    return _timeline_page(
        request,
        title=f"Timeline of {prop.name}",
        listings=listings,
        zone=prop.zone,
        headers=True,
        place=prop,
        place_url=reverse("admin:properties_property_change", args=[prop.pk]),
    )


@require_GET
def timeline_index(request):
    """The navigation's "Timeline": a person with one property goes straight to its
    timeline; with more, they pick a property or one of its listings."""
    properties = list(
        scope_queryset(Property.objects.order_by("name", "pk"), request.user).prefetch_related(
            "listings"
        )
    )
    if len(properties) == 1:
        return redirect("property_timeline", pk=properties[0].pk)
    context = {
        **admin.site.each_context(request),
        "title": "Timelines",
        "properties": properties,
    }
    return TemplateResponse(request, "reservations/timeline_index.html", context)
