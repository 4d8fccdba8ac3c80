"""Guest-message records to take away: every delivery to a guest, as the admin list shows
it. What the guest was told (codes) stays out of the file."""

from __future__ import annotations

from import_export import fields

from core.exports import FormulaSafeResource, local_time

from .models import GuestMessage


class GuestMessageResource(FormulaSafeResource):
    created = fields.Field(column_name="created")
    time_zone = fields.Field(
        attribute="reservation__listing__property__time_zone", column_name="time zone"
    )
    guest = fields.Field(attribute="reservation__guest_name", column_name="guest")
    property = fields.Field(
        attribute="reservation__listing__property__name", column_name="property"
    )
    listing = fields.Field(attribute="reservation__listing__name", column_name="listing")
    message = fields.Field(column_name="message")
    channel = fields.Field(column_name="channel")
    trigger = fields.Field(column_name="trigger")
    state = fields.Field(column_name="state")
    recipient = fields.Field(attribute="recipient", column_name="recipient")
    due = fields.Field(column_name="due")
    sent = fields.Field(column_name="sent")
    sent_by = fields.Field(column_name="sent by")
    attempts = fields.Field(attribute="attempts", column_name="attempts")
    last_error = fields.Field(attribute="last_error", column_name="last error")
    note = fields.Field(attribute="note", column_name="note")

    class Meta:
        model = GuestMessage
        fields = (
            "created",
            "time_zone",
            "guest",
            "property",
            "listing",
            "message",
            "channel",
            "trigger",
            "state",
            "recipient",
            "due",
            "sent",
            "sent_by",
            "attempts",
            "last_error",
            "note",
        )
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("reservation__listing__property", "sent_by")

    def _local(self, obj: GuestMessage, value) -> str:
        return local_time(value, obj.reservation.listing.property.zone)

    def dehydrate_created(self, obj: GuestMessage) -> str:
        return self._local(obj, obj.created_at)

    def dehydrate_due(self, obj: GuestMessage) -> str:
        return self._local(obj, obj.due_at)

    def dehydrate_sent(self, obj: GuestMessage) -> str:
        return self._local(obj, obj.sent_at)

    def dehydrate_sent_by(self, obj: GuestMessage) -> str:
        if obj.sent_by is not None:
            return obj.sent_by.get_username()
        return "" if obj.sent_at is None else "Keystay"

    def dehydrate_message(self, obj: GuestMessage) -> str:
        return obj.get_kind_display()

    def dehydrate_channel(self, obj: GuestMessage) -> str:
        return obj.get_channel_display()

    def dehydrate_trigger(self, obj: GuestMessage) -> str:
        return obj.get_trigger_display()

    def dehydrate_state(self, obj: GuestMessage) -> str:
        return obj.get_state_display()
