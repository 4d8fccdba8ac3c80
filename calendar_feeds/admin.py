"""Calendar feeds in the admin: added inline on the listing (the link is typed once and never
shown again), listed with their health, read at once with "Sync now"."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.forms.models import BaseInlineFormSet
from django.utils.html import format_html

from core.admin_scoping import ManagerOnlyInline, OrganizationScopedAdmin
from core.outbound import MAX_URL_LENGTH
from core.text import counted
from core.timezones import format_instant
from locks.admin import ListingAdmin
from properties.models import Listing

from . import services
from .models import CalendarFeed

URL_HELP = (
    "The calendar's export link (Airbnb: Availability → Connect calendars → Export; Vrbo "
    "and Booking.com: Calendar → Sync / Export). Anyone holding it reads the calendar: "
    "Keystay stores it encrypted and never shows it again. Leave empty to keep the link."
)


# "Sync now" reads up to this many calendars while the page waits; more are queued.
SYNC_NOW_IN_PAGE = 5


class CalendarFeedForm(forms.ModelForm):
    url = forms.CharField(
        label="Calendar link",
        required=False,
        max_length=MAX_URL_LENGTH,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"size": 40}),
        help_text=URL_HELP,
    )

    class Meta:
        model = CalendarFeed
        fields = ["channel", "url", "events_rule", "active"]

    def clean_url(self) -> str:
        url = self.cleaned_data.get("url", "")
        if not url and self.instance.pk is None:
            raise ValidationError("Paste the calendar's export link.")
        if url:
            problem = services.feed_url_problem(url)
            if problem:
                raise ValidationError(problem)
        return url


def _health_badge(feed: CalendarFeed) -> str:
    colours = {"ok": "#2e7d32", "failing": "#c62828", "gone": "#c62828", "paused": "#666"}
    return format_html(
        '<strong style="color:{}">{}</strong>', colours.get(feed.health, "#8a6d00"), feed.health
    )


class HealthColumns:
    """The columns the inline and the list share."""

    @admin.display(description="link")
    def masked_url(self, obj):
        return obj.masked_url if obj.pk else "—"

    @admin.display(description="health")
    def health(self, obj):
        return _health_badge(obj) if obj.pk else "—"

    @admin.display(description="last read")
    def last_read(self, obj):
        if not obj.pk:
            return "—"
        zone = obj.listing.property.zone
        return format_html(
            "fetched {}<br>last success {}",
            format_instant(obj.last_fetch_at, zone),
            format_instant(obj.last_success_at, zone),
        )

    @admin.display(description="last pass")
    def counts(self, obj):
        if not obj.pk:
            return "—"
        return (
            f"{obj.created_count} new, {obj.changed_count} changed, "
            f"{obj.cancelled_count} cancelled, {obj.ignored_count} not stays"
        )

    @admin.display(description="status")
    def status(self, obj):
        if not obj.pk:
            return "—"
        return (
            format_html("{}<br><span class='errornote'>{}</span>", obj.last_status, obj.last_error)
            if obj.last_error
            else obj.last_status
        )


class CalendarFeedFormSet(BaseInlineFormSet):
    """A listing form posted without its feeds section (a script, a page from before
    feeds) leaves the feeds as they are, instead of failing the whole listing form."""

    def __init__(self, data=None, *args, prefix=None, **kwargs):
        prefix_name = prefix or self.get_default_prefix()
        if data is not None and f"{prefix_name}-TOTAL_FORMS" not in data:
            data = data.copy()
            data[f"{prefix_name}-TOTAL_FORMS"] = "0"
            data[f"{prefix_name}-INITIAL_FORMS"] = "0"
        super().__init__(data, *args, prefix=prefix, **kwargs)


class CalendarFeedInline(HealthColumns, ManagerOnlyInline, admin.StackedInline):
    model = CalendarFeed
    form = CalendarFeedForm
    formset = CalendarFeedFormSet
    extra = 0
    fields = [
        ("channel", "events_rule", "active"),
        "url",
        ("masked_url", "health"),
        ("last_read", "counts"),
        "status",
    ]
    readonly_fields = ["masked_url", "health", "last_read", "counts", "status"]
    verbose_name = "calendar feed"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("listing__property")


def save_feed_formset(listing: Listing, formset) -> None:
    """The inline's rows through the services (which validate and read new links at once)."""
    formset.save(commit=False)  # sorts the rows into deleted, changed and new
    forms_of = {id(form.instance): form for form in formset.forms}
    with transaction.atomic():
        for feed in formset.deleted_objects:
            services.feed_delete(feed=feed)
        for feed, _fields in formset.changed_objects:
            form = forms_of[id(feed)]
            services.feed_update(
                feed=feed,
                url=form.cleaned_data.get("url", ""),
                channel=feed.channel,
                events_rule=feed.events_rule,
                active=feed.active,
            )
        for index, feed in enumerate(formset.new_objects):
            form = forms_of[id(feed)]
            formset.new_objects[index] = services.feed_create(
                listing=listing,
                channel=feed.channel,
                url=form.cleaned_data["url"],
                events_rule=feed.events_rule,
            )


# The listing page gains its calendar feeds (locks' admin knows nothing of them).
admin.site.unregister(Listing)


@admin.register(Listing)
class ListingWithFeedsAdmin(ListingAdmin):
    inlines = [*ListingAdmin.inlines, CalendarFeedInline]

    def save_formset(self, request, form, formset, change):
        if formset.model is not CalendarFeed:
            return super().save_formset(request, form, formset, change)
        save_feed_formset(form.instance, formset)


@admin.register(CalendarFeed)
class CalendarFeedAdmin(HealthColumns, OrganizationScopedAdmin):
    form = CalendarFeedForm
    list_display = [
        "__str__",
        "channel",
        "masked_url",
        "health",
        "last_read",
        "counts",
        "status",
    ]
    list_filter = ["channel", "failing", "active"]
    list_select_related = ["listing__property"]
    search_fields = ["listing__name", "listing__property__name"]
    autocomplete_fields = ["listing"]
    actions = ["sync_now"]
    readonly_fields = ["masked_url", "health", "last_read", "counts", "status"]

    def get_fields(self, request, obj=None):
        fields = ["listing", "channel", "url", "events_rule", "active"]
        return fields + self.readonly_fields if obj is not None else fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if obj is not None and "listing" in form.base_fields:
            form.base_fields["listing"].disabled = True
        return form

    def save_model(self, request, obj, form, change):
        url = form.cleaned_data.get("url", "")
        if not change:
            form.instance = services.feed_create(
                listing=obj.listing, channel=obj.channel, url=url, events_rule=obj.events_rule
            )
            return
        services.feed_update(
            feed=obj,
            url=url,
            channel=obj.channel,
            events_rule=obj.events_rule,
            active=obj.active,
        )

    def delete_model(self, request, obj):
        services.feed_delete(feed=obj)

    @admin.action(description="Sync now: read the selected calendars")
    def sync_now(self, request, queryset):
        if not all(self.has_change_permission(request, feed) for feed in queryset):
            self.message_user(request, "Only managers can sync calendars.", messages.ERROR)
            return
        feeds = list(queryset)
        if len(feeds) > SYNC_NOW_IN_PAGE:
            # Each read may take seconds: many are queued rather than read in the request.
            for feed in feeds:
                services.feed_sync_soon(feed_id=feed.pk)
            self.message_user(
                request, f"{counted(len(feeds), 'calendar')} will be read in a moment."
            )
            return
        for feed in feeds:
            result = services.feed_sync(feed_id=feed.pk)
            level = messages.SUCCESS if result.outcome != "failing" else messages.WARNING
            self.message_user(request, f"{feed}: {result.message}", level)
