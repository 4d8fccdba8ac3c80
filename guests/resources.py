"""Guest-message records to take away: every delivery to a guest or to a turnover's crew
("to" says which), as the admin list shows it. What they were told (codes) stays out of
the file."""

from __future__ import annotations

from import_export import fields

from core.exports import FormulaSafeResource, local_time

from .models import GuestMessage


class GuestMessageResource(FormulaSafeResource):
    created = fields.Field(column_name="created")
    time_zone = fields.Field(column_name="time zone")
    to = fields.Field(column_name="to")
    # The guest, or for a turnover's message its crew member ("Cleaner Rosa").
    guest = fields.Field(column_name="guest")
    property = fields.Field(column_name="property")
    listing = fields.Field(column_name="listing")
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
            "to",
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
        return queryset.select_related(
            "reservation__listing__property",
            "turnover__listing__property",
            "turnover__assignee",
            "sent_by",
        )

    def _local(self, obj: GuestMessage, value) -> str:
        return local_time(value, obj.zone)

    def _listing(self, obj: GuestMessage):
        return (obj.turnover or obj.reservation).listing

    def dehydrate_time_zone(self, obj: GuestMessage) -> str:
        return self._listing(obj).property.time_zone

    def dehydrate_to(self, obj: GuestMessage) -> str:
        return "turnover" if obj.is_crew else "guest"

    def dehydrate_guest(self, obj: GuestMessage) -> str:
        if obj.is_crew:
            assignee = obj.turnover.assignee
            return assignee.title if assignee is not None else "Turnover crew"
        return obj.reservation.guest_name

    def dehydrate_property(self, obj: GuestMessage) -> str:
        return self._listing(obj).property.name

    def dehydrate_listing(self, obj: GuestMessage) -> str:
        return self._listing(obj).name

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
