"""/api/v1/standing-accesses/ and /api/v1/code-clearances/, and offboarding a crew member
(`POST /api/v1/crew-members/<id>/offboard/`, also what DELETE and `active: false` do).

Scoped and role-checked like the turnovers and crew members: managers write, staff read.
A standing code itself is never listed; a clearance lists each door's code masked.
"""

from __future__ import annotations

import datetime

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from locks.models import Device
from properties.models import CrewMember, Listing, Property
from reservations.models import (
    OPEN_END,
    SAME_HOURS,
    CodeClearance,
    StandingAccess,
    StandingHours,
)
from reservations.standing import (
    START_TOO_LATE,
    ClearedRow,
    clearance_rows,
    clearance_zones,
    crew_offboard,
    standing_end,
    standing_save,
)

from .authentication import principal_for
from .serializers import ScopedPrimaryKeyRelatedField
from .views import ScopedViewSet


def _who(request) -> str:
    principal = principal_for(request)
    return f"{principal.label or request.user} (API)"


class StandingHoursSerializer(serializers.ModelSerializer):
    property = ScopedPrimaryKeyRelatedField(manage=True, queryset=Property.objects.all())

    class Meta:
        model = StandingHours
        fields = ["property", "opens", "closes"]

    def validate(self, attrs):
        if attrs.get("opens") is not None and attrs.get("opens") == attrs.get("closes"):
            raise serializers.ValidationError({"closes": [SAME_HOURS]})
        return attrs


class StandingAccessSerializer(serializers.ModelSerializer):
    """A crew member's standing code on chosen doors: the staff-access doors of
    `listing` and the `doors` picked, from `starts_at` until `ends_at` (null:
    open-ended), with optional working hours per property (an unlock outside them raises
    an alert). The code is told to the person, never listed."""

    crew_member = ScopedPrimaryKeyRelatedField(
        manage=True, queryset=CrewMember.objects.filter(active=True)
    )
    listing = ScopedPrimaryKeyRelatedField(
        manage=True, queryset=Listing.objects.all(), allow_null=True, required=False
    )
    doors = ScopedPrimaryKeyRelatedField(
        manage=True,
        queryset=Device.objects.filter(removed_at__isnull=True),
        many=True,
        required=False,
    )
    hours = StandingHoursSerializer(many=True, required=False)
    code_state = serializers.SerializerMethodField(
        help_text="Where the code is on its doors: none, planned, requested, confirmed…"
    )

    class Meta:
        model = StandingAccess
        fields = [
            "id",
            "crew_member",
            "listing",
            "doors",
            "starts_at",
            "ends_at",
            "note",
            "hours",
            "ended_at",
            "ended_by",
            "code_state",
        ]
        read_only_fields = ["ended_at", "ended_by"]

    def get_code_state(self, standing: StandingAccess) -> str:
        states = sorted(
            {a.current_state(self.context.get("now")) for a in standing.lock_accesses.all()}
        )
        return ", ".join(states) or "none"

    def validate(self, attrs):
        member = attrs.get("crew_member") or getattr(self.instance, "crew_member", None)
        listing = attrs.get("listing", getattr(self.instance, "listing", None))
        doors = attrs.get("doors")
        if doors is None and self.instance is not None:
            doors = list(self.instance.doors.all())
        doors = doors or []
        org = member.organization_id
        if listing is not None and listing.organization_id != org:
            raise serializers.ValidationError(
                {"listing": ["Pick a listing of the crew member's organization."]}
            )
        if any(d.organization_id != org for d in doors):
            raise serializers.ValidationError(
                {"doors": ["Pick doors of the crew member's organization."]}
            )
        if listing is None and not doors:
            raise serializers.ValidationError("Pick a listing (its staff doors) or doors.")
        starts = attrs.get("starts_at", getattr(self.instance, "starts_at", None))
        ends = attrs.get("ends_at", getattr(self.instance, "ends_at", None))
        if starts is not None and starts >= OPEN_END:
            raise serializers.ValidationError({"starts_at": [START_TOO_LATE]})
        if ends is not None and starts is not None and ends <= starts:
            raise serializers.ValidationError({"ends_at": ["The end must come after the start."]})
        hours = attrs.get("hours") or []
        for rule in hours:
            if rule["property"].organization_id != org:
                raise serializers.ValidationError(
                    {"hours": ["Pick properties of the crew member's organization."]}
                )
        if len({rule["property"].pk for rule in hours}) < len(hours):
            raise serializers.ValidationError(
                {"hours": ["One working-hours row per property: merge the duplicates."]}
            )
        return attrs

    def _save(self, instance: StandingAccess, attrs: dict) -> StandingAccess:
        doors = attrs.pop("doors", None)
        hours = attrs.pop("hours", None)
        for name, value in attrs.items():
            setattr(instance, name, value)
        return standing_save(standing=instance, doors=doors, hours=hours)

    def create(self, validated_data):
        return self._save(StandingAccess(), validated_data)

    def update(self, instance, validated_data):
        if instance.ended_at is not None:
            raise serializers.ValidationError("This standing access has ended.")
        return self._save(instance, validated_data)


def _local_iso(value, zone) -> str | None:
    """An instant with the offset of `zone` (a door's clock), not the server's UTC."""
    return value.astimezone(zone).isoformat() if value is not None else None


class ClearedCodeSerializer(serializers.Serializer):
    door = serializers.CharField()
    code = serializers.CharField(source="masked", help_text="The code, masked.")
    holder = serializers.ChoiceField(choices=["standing", "turnover"])
    status = serializers.ChoiceField(choices=["cleared", "pending", "failing"])
    cleared_at = serializers.SerializerMethodField(
        help_text="ISO 8601, with the offset of the door's time zone."
    )
    time_zone = serializers.SerializerMethodField(
        help_text="The door's time zone (its listing's property's; UTC at no listing)."
    )
    attempts = serializers.IntegerField()
    error = serializers.CharField()

    def get_cleared_at(self, row: ClearedRow) -> datetime.datetime | None:
        return _local_iso(row.cleared_at, row.zone)

    def get_time_zone(self, row: ClearedRow) -> str:
        return row.zone.key


class CodeClearanceSerializer(serializers.ModelSerializer):
    """One offboarding (`standing` null) or one standing access ended: each door's code
    and when the provider confirmed it gone. Instants carry their door's zone's offset
    (`at`: its first door's)."""

    at = serializers.SerializerMethodField(help_text="ISO 8601, in `time_zone`.")
    time_zone = serializers.SerializerMethodField(
        help_text="The zone of `at`: its first door's property's; UTC at no listing."
    )
    codes = serializers.SerializerMethodField()

    class Meta:
        model = CodeClearance
        fields = [
            "id",
            "crew_member",
            "standing",
            "at",
            "time_zone",
            "by",
            "turnovers_note",
            "codes",
        ]
        read_only_fields = fields

    def _rows(self, clearance: CodeClearance) -> list[ClearedRow]:
        cache = self.context.setdefault("_clearance_rows", {})
        if clearance.pk not in cache:
            cache[clearance.pk] = clearance_rows(clearance)
        return cache[clearance.pk]

    def _zone(self, clearance: CodeClearance):
        return clearance_zones(clearance, self._rows(clearance))[0]

    def get_at(self, clearance: CodeClearance) -> datetime.datetime:
        return _local_iso(clearance.at, self._zone(clearance))

    def get_time_zone(self, clearance: CodeClearance) -> str:
        return self._zone(clearance).key

    @extend_schema(responses=ClearedCodeSerializer(many=True))
    def get_codes(self, clearance: CodeClearance) -> list[dict]:
        return ClearedCodeSerializer(self._rows(clearance), many=True).data


class StandingAccessViewSet(
    ScopedViewSet,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
):
    """Crew members' standing codes. Managers add, change and end them; staff read.
    Ended, never deleted: `POST …/end/` takes the code off every door and answers with
    the clearance report."""

    queryset = StandingAccess.objects.select_related("crew_member").prefetch_related(
        "doors", "hours", "lock_accesses"
    )
    serializer_class = StandingAccessSerializer
    ordering_fields = ["id", "starts_at"]
    ordering = ["starts_at", "id"]

    @extend_schema(
        summary="End now: the code leaves every door (the clearance report)",
        request=None,
        responses={200: CodeClearanceSerializer},
    )
    @action(detail=True, methods=["post"])
    def end(self, request, pk=None, format=None):
        clearance = standing_end(standing=self.get_object(), by=_who(request))
        return Response(CodeClearanceSerializer(clearance, context={"request": request}).data)


class CodeClearanceViewSet(ScopedViewSet, viewsets.ReadOnlyModelViewSet):
    """Reports of offboardings and standing accesses ended: each door's code (masked)
    and when it was confirmed gone, or still pending, or failing with its tries."""

    queryset = CodeClearance.objects.select_related("crew_member", "standing__listing__property")
    serializer_class = CodeClearanceSerializer
    ordering_fields = ["id", "at"]
    ordering = ["-at", "-id"]


def offboard(crew_member: CrewMember, request) -> CodeClearance:
    return crew_offboard(crew_member=crew_member, by=_who(request))
