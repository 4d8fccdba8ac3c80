"""Records to take away from the admin lists: stays, lock events and alerts.

A manager settling a damage claim or a lockout needs who opened which door when, in a file
they can keep; these resources say what goes in it. Door codes never do: a file outlives
the stay and travels by email. Times are the property's wall-clock time with its zone in a
column of its own (core.exports).
"""

from __future__ import annotations

from django.db.models import F
from django.db.models.functions import Coalesce
from import_export import fields

from core.exports import FormulaSafeResource, local_time

from .activity import lock_place, zone_named
from .models import DeviceAlert, LockEvent, Reservation


class ReservationResource(FormulaSafeResource):
    guest = fields.Field(attribute="guest_name", column_name="guest")
    email = fields.Field(attribute="guest_email", column_name="email")
    phone = fields.Field(attribute="guest_phone", column_name="phone")
    property = fields.Field(attribute="listing__property__name", column_name="property")
    listing = fields.Field(attribute="listing__name", column_name="listing")
    check_in = fields.Field(column_name="check-in")
    check_out = fields.Field(column_name="check-out")
    time_zone = fields.Field(attribute="listing__property__time_zone", column_name="time zone")
    status = fields.Field(column_name="status")
    arrived = fields.Field(column_name="first unlock by the guest")
    source = fields.Field(attribute="source", column_name="source")
    external_id = fields.Field(attribute="external_id", column_name="external id")
    created = fields.Field(column_name="created")

    class Meta:
        model = Reservation
        fields = (
            "guest",
            "email",
            "phone",
            "property",
            "listing",
            "check_in",
            "check_out",
            "time_zone",
            "status",
            "arrived",
            "source",
            "external_id",
            "created",
        )
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("listing__property")

    def dehydrate_check_in(self, obj: Reservation) -> str:
        return local_time(obj.check_in, obj.listing.property.zone)

    def dehydrate_check_out(self, obj: Reservation) -> str:
        return local_time(obj.check_out, obj.listing.property.zone)

    def dehydrate_arrived(self, obj: Reservation) -> str:
        return local_time(obj.arrived_at, obj.listing.property.zone)

    def dehydrate_created(self, obj: Reservation) -> str:
        return local_time(obj.created_at, obj.listing.property.zone)

    def dehydrate_status(self, obj: Reservation) -> str:
        return obj.get_status_display()


class LockEventResource(FormulaSafeResource):
    occurred = fields.Field(column_name="when")
    time_zone = fields.Field(column_name="time zone")
    property = fields.Field(attribute="place_property", column_name="property")
    listing = fields.Field(attribute="place_listing", column_name="listing")
    lock = fields.Field(attribute="device__name", column_name="lock")
    event = fields.Field(column_name="event")
    method = fields.Field(column_name="how")
    who = fields.Field(column_name="who")
    stay = fields.Field(column_name="stay")
    detail = fields.Field(attribute="detail", column_name="detail")
    provider_event_id = fields.Field(attribute="provider_event_id", column_name="Seam event id")

    class Meta:
        model = LockEvent
        fields = (
            "occurred",
            "time_zone",
            "property",
            "listing",
            "lock",
            "event",
            "method",
            "who",
            "stay",
            "detail",
            "provider_event_id",
        )
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("device", "reservation").annotate(
            place_zone=lock_place("listing__property__time_zone"),
            place_property=lock_place("listing__property__name"),
            place_listing=lock_place("listing__name"),
        )

    def dehydrate_occurred(self, obj: LockEvent) -> str:
        return local_time(obj.occurred_at, zone_named(obj.place_zone))

    def dehydrate_time_zone(self, obj: LockEvent) -> str:
        return str(zone_named(obj.place_zone))

    def dehydrate_event(self, obj: LockEvent) -> str:
        return obj.get_kind_display()

    def dehydrate_method(self, obj: LockEvent) -> str:
        return obj.get_method_display() if obj.method else ""

    def dehydrate_who(self, obj: LockEvent) -> str:
        return obj.who

    def dehydrate_stay(self, obj: LockEvent) -> str:
        stay = obj.reservation
        if stay is None:
            return ""
        zone = zone_named(obj.place_zone)
        stay_times = f"{local_time(stay.check_in, zone)} → {local_time(stay.check_out, zone)}"
        return f"{stay.guest_name}, {stay_times}"


class DeviceAlertResource(FormulaSafeResource):
    opened = fields.Field(column_name="opened")
    time_zone = fields.Field(column_name="time zone")
    property = fields.Field(attribute="place_property", column_name="property")
    lock = fields.Field(attribute="device__name", column_name="lock")
    listing = fields.Field(attribute="listing__name", column_name="listing")
    problem = fields.Field(column_name="problem")
    message = fields.Field(attribute="message", column_name="message")
    state = fields.Field(column_name="state")
    resolved = fields.Field(column_name="resolved")
    resolution = fields.Field(attribute="resolution", column_name="resolution")
    acknowledged = fields.Field(column_name="acknowledged")
    acknowledged_by = fields.Field(attribute="acknowledged_by_name", column_name="acknowledged by")

    class Meta:
        model = DeviceAlert
        fields = (
            "opened",
            "time_zone",
            "property",
            "lock",
            "listing",
            "problem",
            "message",
            "state",
            "resolved",
            "resolution",
            "acknowledged",
            "acknowledged_by",
        )
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        # A listing's alert (a calendar feed, a double booking) is at its property.
        return queryset.select_related("device", "listing").annotate(
            place_zone=Coalesce(
                lock_place("listing__property__time_zone"), F("listing__property__time_zone")
            ),
            place_property=Coalesce(
                lock_place("listing__property__name"), F("listing__property__name")
            ),
        )

    def dehydrate_opened(self, obj: DeviceAlert) -> str:
        return local_time(obj.opened_at, zone_named(obj.place_zone))

    def dehydrate_resolved(self, obj: DeviceAlert) -> str:
        return local_time(obj.resolved_at, zone_named(obj.place_zone))

    def dehydrate_acknowledged(self, obj: DeviceAlert) -> str:
        return local_time(obj.acknowledged_at, zone_named(obj.place_zone))

    def dehydrate_time_zone(self, obj: DeviceAlert) -> str:
        return str(zone_named(obj.place_zone))

    def dehydrate_problem(self, obj: DeviceAlert) -> str:
        return obj.get_kind_display()

    def dehydrate_state(self, obj: DeviceAlert) -> str:
        return "open" if obj.is_open else "resolved"
