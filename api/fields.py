"""Serializer fields of the API's own: instants that may be dates, bounded instants, kinds."""

from __future__ import annotations

import datetime
import re

from django.utils.dateparse import parse_date, parse_datetime
from rest_framework import serializers

from core.timezones import RANGE_MESSAGE, in_year_range
from locks.models import Device


def check_year(value: datetime.date) -> None:
    if not in_year_range(value):
        raise serializers.ValidationError(RANGE_MESSAGE, code="out_of_range")


class InstantOrDateField(serializers.Field):
    """An ISO 8601 instant, or a date alone.

    A date becomes the listing's local check-in (or check-out) time on that day, and an
    instant without an offset is read as the property's local time: the serializer
    resolves both once it knows the listing. Responses always carry an aware instant.
    """

    default_error_messages = {
        "invalid": (
            "Enter an ISO 8601 instant (2025-07-01T15:00:00+01:00) or a date (2025-07-01)."
        ),
    }

    def to_internal_value(self, data) -> datetime.date | datetime.datetime:
        if not isinstance(data, str):
            self.fail("invalid")
        value = data.strip()
        try:
            parsed = parse_date(value) or parse_datetime(value)
        except (ValueError, TypeError, OverflowError):
            parsed = None
        if parsed is None:
            self.fail("invalid")
        check_year(parsed)
        if isinstance(parsed, datetime.datetime) and parsed.tzinfo is not None:
            # Python takes offsets up to ±24 h, PostgreSQL only up to ±16 h: store UTC.
            parsed = parsed.astimezone(datetime.UTC)
        return parsed

    def to_representation(self, value):
        return serializers.DateTimeField().to_representation(value)


class LocalTimeField(serializers.Field):
    """A wall-clock time at the property, `HH:MM` (or `HH:MM:SS`), without any offset."""

    PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"
    default_error_messages = {"invalid": "Enter a local time as HH:MM, e.g. 15:00."}

    def to_internal_value(self, data) -> datetime.time:
        if not isinstance(data, str) or not re.fullmatch(self.PATTERN, data):
            self.fail("invalid")
        return datetime.time.fromisoformat(data)

    def to_representation(self, value: datetime.time) -> str:
        return value.strftime("%H:%M" if value.second == 0 else "%H:%M:%S")


class BoundedDateTimeField(serializers.DateTimeField):
    """An aware instant within the years Keystay accepts."""

    def to_internal_value(self, value):
        parsed = super().to_internal_value(value)
        check_year(parsed)
        return parsed


# The API's names for a device's kind: Seam's `acs_entrance` reads as `entrance`.
KIND_TO_API = {Device.Kind.LOCK: "lock", Device.Kind.ACS_ENTRANCE: "entrance"}
KIND_FROM_API = {api: model for model, api in KIND_TO_API.items()}
API_KINDS = [("lock", "PIN-code lock"), ("entrance", "Access-control entrance")]


class DeviceKindField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=API_KINDS, read_only=True, **kwargs)

    def to_representation(self, value):
        return KIND_TO_API.get(value, value)
