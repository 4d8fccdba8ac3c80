"""/api/v1/standing-accesses/ and /api/v1/code-clearances/, and offboarding a crew member
(`POST /api/v1/crew-members/<id>/offboard/`, also what DELETE and `active: false` do).

Scoped and role-checked like the turnovers and crew members: managers write, staff read.
A standing code itself is never listed; a clearance lists each door's code masked.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from locks.models import Device
from properties.models import CrewMember, Listing, Property
from reservations.models import CodeClearance, StandingAccess, StandingHours
from reservations.standing import (
    clearance_rows,
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
        if ends is not None and starts is not None and ends <= starts:
            raise serializers.ValidationError({"ends_at": ["The end must come after the start."]})
        for rule in attrs.get("hours") or []:
            if rule["property"].organization_id != org:
                raise serializers.ValidationError(
                    {"hours": ["Pick properties of the crew member's organization."]}
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


class ClearedCodeSerializer(serializers.Serializer):
    door = serializers.CharField()
    code = serializers.CharField(source="masked", help_text="The code, masked.")
    holder = serializers.ChoiceField(choices=["standing", "turnover"])
    status = serializers.ChoiceField(choices=["cleared", "pending", "failing"])
    cleared_at = serializers.DateTimeField(allow_null=True)
    attempts = serializers.IntegerField()
    error = serializers.CharField()


class CodeClearanceSerializer(serializers.ModelSerializer):
    """One offboarding (`standing` null) or one standing access ended: each door's code
    and when the provider confirmed it gone."""

    codes = serializers.SerializerMethodField()

    class Meta:
        model = CodeClearance
        fields = ["id", "crew_member", "standing", "at", "by", "turnovers_note", "codes"]
        read_only_fields = fields

    @extend_schema(responses=ClearedCodeSerializer(many=True))
    def get_codes(self, clearance: CodeClearance) -> list[dict]:
        return ClearedCodeSerializer(clearance_rows(clearance), many=True).data


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

    queryset = CodeClearance.objects.select_related("crew_member")
    serializer_class = CodeClearanceSerializer
    ordering_fields = ["id", "at"]
    ordering = ["-at", "-id"]


def offboard(crew_member: CrewMember, request) -> CodeClearance:
    return crew_offboard(crew_member=crew_member, by=_who(request))
