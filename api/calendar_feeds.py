"""Calendar feeds in the API, under /api/v1/calendar-feeds/: a listing's iCal exports.

The same rules as the admin: members read, managers write and sync; another
organization's feed is a 404. The link is write-only: answers show its host and last
characters (`masked_url`), never the link itself.
"""

from __future__ import annotations

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from calendar_feeds import services
from calendar_feeds.models import CalendarFeed
from core.outbound import MAX_URL_LENGTH
from properties.models import Listing

from .filters import IdFilter
from .serializers import ScopedPrimaryKeyRelatedField
from .views import ScopedViewSet, service_errors


class CalendarFeedSerializer(serializers.ModelSerializer):
    listing = ScopedPrimaryKeyRelatedField(
        manage=True, queryset=Listing.objects.all(), help_text="The listing's id."
    )
    url = serializers.CharField(
        write_only=True,
        required=False,
        max_length=MAX_URL_LENGTH,
        help_text=(
            "The calendar's export link (needed to create). Write-only: anyone holding it "
            "reads the calendar, so answers show `masked_url` instead."
        ),
    )
    masked_url = serializers.CharField(read_only=True, help_text="The link's host and end.")
    health = serializers.CharField(
        read_only=True, help_text="ok, failing, gone (404/410), paused, or not yet read."
    )

    class Meta:
        model = CalendarFeed
        fields = [
            "id",
            "listing",
            "channel",
            "url",
            "masked_url",
            "events_rule",
            "active",
            "health",
            "last_fetch_at",
            "last_success_at",
            "last_status",
            "last_error",
            "created_count",
            "changed_count",
            "cancelled_count",
            "ignored_count",
            "failing_since",
            "gone_since",
            "created_at",
        ]
        read_only_fields = [
            "last_fetch_at",
            "last_success_at",
            "last_status",
            "last_error",
            "created_count",
            "changed_count",
            "cancelled_count",
            "ignored_count",
            "failing_since",
            "gone_since",
            "created_at",
        ]

    def validate(self, attrs):
        if self.instance is None and not attrs.get("url"):
            raise serializers.ValidationError({"url": "Send the calendar's export link."})
        moved = self.instance is not None and attrs.get("listing", self.instance.listing)
        if moved and moved != self.instance.listing:
            raise serializers.ValidationError(
                {"listing": "A feed stays on its listing: add a new one instead."}
            )
        url = attrs.get("url")
        if url:
            problem = services.feed_url_problem(url)
            if problem:
                raise serializers.ValidationError({"url": problem})
        return attrs


class FeedSyncResultSerializer(serializers.Serializer):
    outcome = serializers.CharField(help_text="synced, not_modified, failing or busy.")
    message = serializers.CharField()
    created = serializers.IntegerField()
    changed = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    ignored = serializers.IntegerField()


class CalendarFeedFilter(filters.FilterSet):
    listing = IdFilter(field_name="listing_id")
    channel = filters.ChoiceFilter(choices=CalendarFeed._meta.get_field("channel").choices)
    failing = filters.BooleanFilter()

    class Meta:
        model = CalendarFeed
        fields = ["listing", "channel", "failing"]


class CalendarFeedViewSet(ScopedViewSet, viewsets.ModelViewSet):
    """A listing's calendar exports (Airbnb, Vrbo, Booking.com, other): their bookings
    become stays and follow them; a feed that fails cancels nothing."""

    queryset = CalendarFeed.objects.select_related("listing__property")
    serializer_class = CalendarFeedSerializer
    filterset_class = CalendarFeedFilter
    ordering_fields = ["id", "created_at", "last_fetch_at"]
    ordering = ["id"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        with service_errors():
            serializer.instance = services.feed_create(
                listing=data["listing"],
                channel=data["channel"],
                url=data["url"],
                events_rule=data.get("events_rule", ""),
            )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("listing", None)
        with service_errors():
            serializer.instance = services.feed_update(feed=serializer.instance, **data)

    def perform_destroy(self, instance):
        services.feed_delete(feed=instance)

    @extend_schema(
        summary="Read the calendar now", request=None, responses={200: FeedSyncResultSerializer}
    )
    @action(detail=True, methods=["post"])
    def sync(self, request, pk=None, format=None):
        feed = self.get_object()
        result = services.feed_sync(feed_id=feed.pk)
        return Response(FeedSyncResultSerializer(result).data)
