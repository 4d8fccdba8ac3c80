"""Query filters of the lists. Related rows are filtered by plain ids, never validated
against the whole table, so that a filter cannot tell whether another organization's id
exists."""

import datetime

from django import forms
from django.db.models import Q
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField

from core.timezones import RANGE_MESSAGE, in_year_range
from locks.models import Device, LockAssignment, LockProviderConnection
from properties.models import CodeStyle, Listing, Property
from reservations.models import AccessOverride, DeviceAlert, LockEvent, Reservation

from .fields import API_KINDS, KIND_FROM_API

# The largest id a column holds (64 bits). A larger one fails at the database (SQLite
# raises OverflowError, PostgreSQL an out-of-range error) instead of matching nothing.
MAX_ID = 2**63 - 1


class IdField(forms.IntegerField):
    def __init__(self, **kwargs):
        super().__init__(**{"min_value": 1, "max_value": MAX_ID, **kwargs})


class IdFilter(filters.NumberFilter):
    """A whole-number id (NumberFilter alone would take 1.5 for 1), within what a database
    column holds: every id filter of the API is one of these."""

    field_class = IdField


class InstantField(IsoDateTimeField):
    """An ISO 8601 instant within the years Keystay accepts, in UTC for the database."""

    def clean(self, value):
        value = super().clean(value)
        if value is None:
            return value
        if not in_year_range(value):
            raise forms.ValidationError(RANGE_MESSAGE, code="out_of_range")
        return value.astimezone(datetime.UTC)


class InstantFilter(filters.IsoDateTimeFilter):
    field_class = InstantField


class PropertyFilter(filters.FilterSet):
    organization = IdFilter(field_name="organization_id")
    name = filters.CharFilter(lookup_expr="icontains")
    timezone = filters.CharFilter(field_name="time_zone")

    class Meta:
        model = Property
        fields = ["organization", "name", "timezone"]


class ListingFilter(filters.FilterSet):
    property = IdFilter(field_name="property_id")
    organization = IdFilter(field_name="organization_id")
    name = filters.CharFilter(lookup_expr="icontains")
    external_id = filters.CharFilter()
    code_style = filters.ChoiceFilter(choices=CodeStyle.choices)
    active = filters.BooleanFilter()

    class Meta:
        model = Listing
        fields = ["property", "organization", "name", "external_id", "code_style", "active"]


class DeviceFilter(filters.FilterSet):
    kind = filters.ChoiceFilter(choices=API_KINDS, method="filter_kind")
    online = filters.BooleanFilter()
    removed = filters.BooleanFilter(field_name="removed_at", lookup_expr="isnull", exclude=True)
    connection = IdFilter(field_name="connection_id")
    listing = IdFilter(field_name="assignments__listing_id", distinct=True)
    name = filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Device
        fields = ["kind", "online", "removed", "connection", "listing", "name"]

    def filter_kind(self, queryset, name, value):
        return queryset.filter(kind=KIND_FROM_API[value])


class AssignmentFilter(filters.FilterSet):
    listing = IdFilter(field_name="listing_id")
    device = IdFilter(field_name="device_id")
    role = filters.ChoiceFilter(choices=LockAssignment.Role.choices)
    guest_access = filters.BooleanFilter()
    staff_access = filters.BooleanFilter()

    class Meta:
        model = LockAssignment
        fields = ["listing", "device", "role", "guest_access", "staff_access"]


class ConnectionFilter(filters.FilterSet):
    organization = IdFilter(field_name="organization_id")

    class Meta:
        model = LockProviderConnection
        fields = ["organization"]


class ReservationFilter(filters.FilterSet):
    listing = IdFilter(field_name="listing_id")
    listing_external_id = filters.CharFilter(field_name="listing__external_id")
    property = IdFilter(field_name="listing__property_id")
    status = filters.MultipleChoiceFilter(choices=Reservation.Status.choices)
    external_id = filters.CharFilter()
    guest_name = filters.CharFilter(lookup_expr="icontains")
    check_in_after = InstantFilter(field_name="check_in", lookup_expr="gte")
    check_in_before = InstantFilter(field_name="check_in", lookup_expr="lt")
    check_out_after = InstantFilter(field_name="check_out", lookup_expr="gte")
    check_out_before = InstantFilter(field_name="check_out", lookup_expr="lt")
    updated_since = InstantFilter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = Reservation
        fields = ["listing", "listing_external_id", "property", "status", "external_id"]


class OverrideFilter(filters.FilterSet):
    reservation = IdFilter(field_name="reservation_id")
    assignment = IdFilter(field_name="assignment_id")

    class Meta:
        model = AccessOverride
        fields = ["reservation", "assignment"]


class EventFilter(filters.FilterSet):
    """As the activity feed: a listing's events are those of the locks assigned to it."""

    property = IdFilter(method="filter_property")
    listing = IdFilter(method="filter_listing")
    device = IdFilter(field_name="device_id")
    reservation = IdFilter(field_name="reservation_id")
    person = filters.CharFilter(field_name="person_name", lookup_expr="icontains")
    kind = filters.MultipleChoiceFilter(choices=LockEvent.Kind.choices)
    occurred_after = InstantFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = InstantFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = LockEvent
        fields = ["device", "reservation", "kind"]

    def filter_property(self, queryset, name, value):
        doors = LockAssignment.objects.filter(listing__property_id=value).values("device_id")
        return queryset.filter(device_id__in=doors)

    def filter_listing(self, queryset, name, value):
        doors = LockAssignment.objects.filter(listing_id=value).values("device_id")
        return queryset.filter(device_id__in=doors)


class AlertFilter(filters.FilterSet):
    """Alerts: open ones unless `state` says otherwise. A listing's alerts are those of the
    locks assigned to it and those of its stays (a failed code of a lock it left)."""

    STATES = [("open", "Open"), ("resolved", "Resolved"), ("all", "All")]

    state = filters.ChoiceFilter(
        choices=STATES,
        method="filter_state",
        empty_label=None,
        help_text="open (the default: acknowledged or not), resolved, or all.",
    )
    listing = IdFilter(method="filter_listing")
    device = IdFilter(field_name="device_id")
    reservation = IdFilter(field_name="reservation_id")
    kind = filters.MultipleChoiceFilter(choices=DeviceAlert.Kind.choices)

    class Meta:
        model = DeviceAlert
        fields = ["state", "listing", "device", "reservation", "kind"]

    def filter_state(self, queryset, name, value):
        if value == "open":
            return queryset.filter(resolved_at__isnull=True)
        if value == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset

    def filter_listing(self, queryset, name, value):
        doors = LockAssignment.objects.filter(listing_id=value).values("device_id")
        return queryset.filter(Q(device_id__in=doors) | Q(reservation__listing_id=value))
