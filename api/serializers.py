"""What the API reads and writes. Serializers validate and represent; services write.

Every related id a client sends is looked up among the caller's organizations only (the
managed ones where a change needs the manager role), as the request's principal has them:
an API key's one organization, or a signed-in person's. Another organization's id is
refused exactly like an id that does not exist.
"""

from __future__ import annotations

import datetime

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core import access
from core.timezones import local_instant, validate_time_zone
from locks.endpoints import validate_endpoint
from locks.listing_import import format_for_name, size_problem
from locks.models import Device, LockAssignment, LockProviderConnection
from properties.models import MAX_CODE_LEAD_MINUTES, CrewMember, Listing, Organization, Property
from reservations.models import (
    AccessOverride,
    DeviceAlert,
    LockAccess,
    LockEvent,
    Reservation,
    ReservationCode,
    Turnover,
)
from reservations.selectors import double_booking_warnings
from reservations.services import override_problems, status_change_problem
from reservations.turnovers import turnover_code_state

from .authentication import principal_for
from .fields import BoundedDateTimeField, DeviceKindField, InstantOrDateField, LocalTimeField

State = LockAccess.State


def _principal(serializer: serializers.Serializer) -> access.Principal:
    return principal_for(serializer.context["request"])


def _is_list(serializer) -> bool:
    view = serializer.context.get("view")
    return getattr(view, "action", None) == "list"


def may_see_codes(principal: access.Principal, organization_id: int) -> bool:
    """Who may read door codes through the API: the members of the stay's organization."""
    return principal.is_superuser or organization_id in principal.organization_ids


class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A related id among the caller's organizations (the managed ones with `manage`)."""

    def __init__(self, *, manage: bool = False, **kwargs):
        self.manage = manage
        super().__init__(**kwargs)

    def get_queryset(self):
        return access.scope_queryset(super().get_queryset(), _principal(self), manage=self.manage)


class OrganizationOnCreateMixin:
    """`organization` is chosen once, at creation; it defaults to the one you manage."""

    def resolve_organization(self, attrs: dict) -> None:
        chosen = attrs.get("organization")
        if self.instance is not None:
            if chosen is not None and chosen.pk != self.instance.organization_id:
                raise serializers.ValidationError(
                    {"organization": ["This cannot move to another organization."]}
                )
            attrs.pop("organization", None)
            return
        if chosen is None:
            managed = access.managed_organization_ids(_principal(self))
            if len(managed) != 1:
                raise serializers.ValidationError(
                    {"organization": ["Choose one of the organizations you manage."]}
                )
            attrs["organization"] = Organization.objects.get(pk=next(iter(managed)))


# ------------------------------------------------------------------ organization settings


class PropertySerializer(OrganizationOnCreateMixin, serializers.ModelSerializer):
    organization = ScopedPrimaryKeyRelatedField(
        manage=True,
        queryset=Organization.objects.all(),
        required=False,
        help_text="Needed only when you manage several organizations.",
    )
    timezone = serializers.CharField(
        source="time_zone",
        max_length=64,
        validators=[validate_time_zone],
        help_text="IANA time zone, e.g. Europe/Lisbon. Check-in and check-out times are local.",
    )
    check_in_time = LocalTimeField(required=False, help_text="Local, e.g. 15:00.")
    check_out_time = LocalTimeField(required=False, help_text="Local, e.g. 11:00.")

    class Meta:
        model = Property
        fields = [
            "id",
            "organization",
            "name",
            "address",
            "timezone",
            "check_in_time",
            "check_out_time",
            "requires_verification",
        ]
        validators = []  # uniqueness is checked below, with a message per field

    def validate(self, attrs):
        self.resolve_organization(attrs)
        organization_id = (
            self.instance.organization_id if self.instance else attrs["organization"].pk
        )
        name = attrs.get("name")
        if name is not None:
            clash = Property.objects.filter(organization_id=organization_id, name=name)
            if self.instance is not None:
                clash = clash.exclude(pk=self.instance.pk)
            if clash.exists():
                raise serializers.ValidationError(
                    {"name": ["Your organization already has a property with this name."]}
                )
        return attrs


class ListingSerializer(serializers.ModelSerializer):
    property = ScopedPrimaryKeyRelatedField(
        manage=True, queryset=Property.objects.all(), help_text="The listing's property."
    )
    lead_time_minutes = serializers.IntegerField(
        source="code_lead_time_minutes",
        required=False,
        allow_null=True,
        min_value=0,
        max_value=MAX_CODE_LEAD_MINUTES,
        help_text="How long before the stay the code is put on the lock. Null: the default.",
    )
    check_in_time = LocalTimeField(
        required=False, allow_null=True, help_text="Local; null: the property's check-in time."
    )
    check_out_time = LocalTimeField(
        required=False, allow_null=True, help_text="Local; null: the property's check-out time."
    )

    class Meta:
        model = Listing
        fields = [
            "id",
            "property",
            "name",
            "external_id",
            "lead_time_minutes",
            "buffer_before_minutes",
            "buffer_after_minutes",
            "code_length",
            "code_style",
            "override_max_extension_minutes",
            "prearrival_check_hours",
            "language",
            "active",
            "check_in_time",
            "check_out_time",
            "requires_verification",
        ]
        validators = []

    def validate(self, attrs):
        prop = attrs.get("property") or self.instance.property
        if self.instance is not None and prop.organization_id != self.instance.organization_id:
            raise serializers.ValidationError(
                {"property": ["A listing cannot move to another organization's property."]}
            )
        external_id = attrs.get("external_id")
        if external_id:
            clash = Listing.objects.filter(
                organization_id=prop.organization_id, external_id=external_id
            )
            if self.instance is not None:
                clash = clash.exclude(pk=self.instance.pk)
            if clash.exists():
                raise serializers.ValidationError(
                    {"external_id": ["Another listing of this organization has this external id."]}
                )
        return attrs


class DeviceSerializer(serializers.ModelSerializer):
    kind = DeviceKindField(help_text="`lock` (PIN-code lock) or `entrance` (access control).")
    provider_device_id = serializers.CharField(
        read_only=True, help_text="Seam's device_id, or acs_entrance_id for an entrance."
    )
    removed = serializers.SerializerMethodField(
        help_text="The device disappeared at the provider (its assignments stay, flagged)."
    )

    class Meta:
        model = Device
        fields = [
            "id",
            "name",
            "kind",
            "provider_device_id",
            "online",
            "battery_level",
            "removed",
            "connection",
            "manufacturer",
            "model",
        ]
        read_only_fields = fields

    def get_removed(self, obj: Device) -> bool:
        return obj.removed_at is not None


class AssignmentSerializer(serializers.ModelSerializer):
    listing = ScopedPrimaryKeyRelatedField(
        manage=True, queryset=Listing.objects.all(), help_text="Set at creation only."
    )
    device = ScopedPrimaryKeyRelatedField(
        manage=True, queryset=Device.objects.all(), help_text="Set at creation only."
    )

    class Meta:
        model = LockAssignment
        fields = ["id", "listing", "device", "role", "guest_access", "staff_access", "label"]
        validators = []

    def validate(self, attrs):
        instance = self.instance
        listing = attrs.get("listing") or instance.listing
        device = attrs.get("device") or instance.device
        if instance is not None:
            for name, value in (("listing", listing), ("device", device)):
                if value.pk != getattr(instance, f"{name}_id"):
                    raise serializers.ValidationError(
                        {name: ["An assignment cannot move; delete it and create another."]}
                    )
        if device.organization_id != listing.organization_id:
            raise serializers.ValidationError(
                {"device": ["This device belongs to another organization than the listing."]}
            )
        if instance is None:
            if device.removed_at is not None:
                raise serializers.ValidationError(
                    {"device": ["This device was removed at the provider."]}
                )
            if LockAssignment.objects.filter(listing=listing, device=device).exists():
                raise serializers.ValidationError(
                    {"device": ["This device is already assigned to this listing."]}
                )
        if attrs.get("role") == LockAssignment.Role.PRIMARY:
            primaries = LockAssignment.objects.filter(
                listing=listing, role=LockAssignment.Role.PRIMARY
            )
            if instance is not None:
                primaries = primaries.exclude(pk=instance.pk)
            if primaries.exists():
                raise serializers.ValidationError(
                    {"role": ["This listing already has a primary lock."]}
                )
        return attrs


class SyncResultSerializer(serializers.Serializer):
    """What one device import did."""

    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    removed = serializers.IntegerField()
    restored = serializers.IntegerField()


class ConnectionSerializer(OrganizationOnCreateMixin, serializers.ModelSerializer):
    organization = ScopedPrimaryKeyRelatedField(
        manage=True,
        queryset=Organization.objects.all(),
        required=False,
        help_text="Needed only when you manage several organizations.",
    )
    name = serializers.CharField(max_length=200, required=False, default="Seam")
    api_key = serializers.CharField(
        write_only=True,
        max_length=500,
        style={"input_type": "password"},
        help_text="A Seam API key of the workspace. Checked at Seam; never shown again.",
    )
    endpoint = serializers.URLField(
        required=False,
        allow_blank=True,
        max_length=200,
        validators=[validate_endpoint],
        help_text="Leave empty for Seam's API; set it for a self-hosted or test server.",
    )
    masked_api_key = serializers.CharField(read_only=True)
    sync_summary = serializers.SerializerMethodField()

    class Meta:
        model = LockProviderConnection
        fields = [
            "id",
            "organization",
            "name",
            "api_key",
            "endpoint",
            "masked_api_key",
            "workspace_id",
            "workspace_name",
            "is_sandbox",
            "sync_state",
            "sync_finished_at",
            "sync_summary",
            "last_sync_error",
            "created_at",
        ]
        read_only_fields = [
            "workspace_id",
            "workspace_name",
            "is_sandbox",
            "sync_state",
            "sync_finished_at",
            "last_sync_error",
            "created_at",
        ]
        validators = []

    def validate(self, attrs):
        self.resolve_organization(attrs)
        if LockProviderConnection.objects.filter(
            organization=attrs["organization"], name=attrs["name"]
        ).exists():
            raise serializers.ValidationError(
                {"name": ["Your organization already has a connection with this name."]}
            )
        return attrs

    @extend_schema_field(SyncResultSerializer(allow_null=True))
    def get_sync_summary(self, obj: LockProviderConnection) -> dict | None:
        return obj.sync_summary or None


# ------------------------------------------------------------------------ reservations


def _code_of(reservation: Reservation) -> ReservationCode | None:
    try:
        return reservation.code
    except ReservationCode.DoesNotExist:
        return None


class LockSerializer(serializers.ModelSerializer):
    """One lock's part of a stay."""

    state = serializers.SerializerMethodField()
    provider_id = serializers.CharField(
        read_only=True, help_text="Seam's access_code_id, or acs_credential_id for an entrance."
    )

    code = serializers.SerializerMethodField(
        help_text="The code that opens this door for the guest (members only; masked in "
        "lists). Null when the door holds no code for the stay, or while a lock that picks "
        "its own codes has not picked one."
    )
    own_code = serializers.SerializerMethodField(
        help_text="True when this door's code is not the reservation's code (an override, or "
        "a code the lock picked itself): tell the guest this door's code."
    )

    door = serializers.CharField(
        source="door_name",
        read_only=True,
        help_text="What the guest reads for this door: the label its listing gave the lock, "
        "else the lock's name.",
    )

    class Meta:
        model = LockAccess
        fields = [
            "device",
            "door",
            "state",
            "starts_at",
            "ends_at",
            "provider_id",
            "last_error",
            "code",
            "own_code",
        ]
        read_only_fields = fields

    def _door_code(self, access: LockAccess) -> str:
        if not access.wanted or access.state in LockAccess.FINAL_STATES:
            return ""
        if access.reservation.code_held:
            return ""  # held until the guest is verified: shown to nobody
        return access.door_code

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_code(self, access: LockAccess) -> str | None:
        code = self._door_code(access)
        if not code or not may_see_codes(_principal(self), access.organization_id):
            return None
        return "•" * 4 if _is_list(self) else code

    @extend_schema_field(serializers.BooleanField())
    def get_own_code(self, access: LockAccess) -> bool:
        code = self._door_code(access)
        stay = _code_of(access.reservation)
        return bool(code) and (stay is None or code != stay.value)

    @extend_schema_field(serializers.ChoiceField(choices=State.choices))
    def get_state(self, obj: LockAccess) -> str:
        return obj.current_state(self.context.get("now"))


class VerifySerializer(serializers.Serializer):
    """The guest is verified: what verified them, and when (now when left out)."""

    verified_by = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="What verified the guest, e.g. “Autohost ID check” or your PMS. Empty: "
        "the API key's label.",
    )
    verified_at = serializers.DateTimeField(
        required=False, help_text="When the guest was verified. Default: now."
    )


class UnverifySerializer(serializers.Serializer):
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=300,
        help_text="Why the verification is revoked (kept in the stay's history).",
    )


class ListingExternalIdField(serializers.CharField):
    """Written to pick the listing by its PMS id; read back from the listing."""

    def get_attribute(self, instance):
        return instance.listing.external_id


def resolve_listing(
    principal: access.Principal,
    *,
    by_id: Listing | None,
    external_id: str | None,
    instance: Reservation | None,
) -> Listing:
    """The listing a booking names, by id or by its PMS id, among the caller's listings."""
    by_external_id = None
    if external_id:
        matches = list(
            access.scope_queryset(
                Listing.objects.filter(external_id=external_id).select_related("property"),
                principal,
            )[:2]
        )
        if not matches:
            raise serializers.ValidationError(
                {"listing_external_id": ["None of your listings has this external id."]}
            )
        if len(matches) > 1:
            raise serializers.ValidationError(
                {
                    "listing_external_id": [
                        "Several of your organizations have a listing with this external id; "
                        "send `listing` (its id) instead."
                    ]
                }
            )
        by_external_id = matches[0]
    if by_id and by_external_id and by_id.pk != by_external_id.pk:
        raise serializers.ValidationError(
            {"listing_external_id": ["This is not the external id of `listing`."]}
        )
    listing = by_id or by_external_id
    if listing is None:
        if instance is not None:
            return instance.listing
        raise serializers.ValidationError(
            {"listing": ["Send `listing` (an id) or `listing_external_id`."]}
        )
    if instance is not None and listing.organization_id != instance.organization_id:
        raise serializers.ValidationError(
            {"listing": ["A reservation cannot move to another organization's listing."]}
        )
    return listing


class ReservationSerializer(serializers.ModelSerializer):
    listing = ScopedPrimaryKeyRelatedField(
        queryset=Listing.objects.select_related("property"),
        required=False,
        help_text="The listing's id; or send `listing_external_id` instead.",
    )
    listing_external_id = ListingExternalIdField(
        required=False,
        max_length=100,
        help_text="The listing's id in your PMS, instead of `listing`.",
    )
    check_in = InstantOrDateField(
        help_text=(
            "ISO 8601 instant; a date alone takes the listing's local check-in time, and "
            "an instant without offset is local to the property."
        )
    )
    check_out = InstantOrDateField(
        help_text="As check_in; a date alone takes the listing's local check-out time."
    )
    code = serializers.SerializerMethodField(
        help_text="The guest's door code, once confirmed. Null while it is held until the "
        "guest is verified (`code_held`)."
    )
    code_held = serializers.BooleanField(
        read_only=True,
        help_text="The code is held until the guest is verified: on no lock, in no message, "
        "shown to nobody. POST …/verify/ releases it.",
    )
    code_state = serializers.SerializerMethodField()
    sent_at = serializers.SerializerMethodField(help_text="When the code was shared.")
    locks = LockSerializer(many=True, read_only=True, source="lock_accesses")
    warnings = serializers.SerializerMethodField(
        help_text=(
            "What the saved stay should make you check: each confirmed stay of the listing "
            "it overlaps (a double booking, accepted but flagged). In the answer to a "
            "create, an update and a read of one reservation; empty in lists."
        )
    )

    class Meta:
        model = Reservation
        fields = [
            "id",
            "listing",
            "listing_external_id",
            "guest_name",
            "guest_email",
            "guest_phone",
            "check_in",
            "check_out",
            "status",
            "source",
            "external_id",
            "language",
            "code",
            "code_state",
            "code_held",
            "verification_required",
            "verified_at",
            "verified_by",
            "sent_at",
            "locks",
            "warnings",
            "confirmed_at",
            "cancelled_at",
            "ended_at",
            "arrived_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "verification_required",
            "verified_at",
            "verified_by",
            "confirmed_at",
            "cancelled_at",
            "ended_at",
            "arrived_at",
            "created_at",
            "updated_at",
        ]
        validators = []

    # Reading.

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_code(self, obj: Reservation) -> str | None:
        code = _code_of(obj)
        if code is None or not may_see_codes(_principal(self), obj.organization_id):
            return None
        if obj.code_held:
            return None  # held until the guest is verified: shown to nobody
        if _is_list(self):
            return code.masked  # codes are masked in lists; a reservation's own URL shows it
        return code.value

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_warnings(self, obj: Reservation) -> list[str]:
        view = self.context.get("view")
        if view is None or getattr(view, "action", None) == "list":
            return []  # one query per stay of a page: the dashboard lists them instead
        return double_booking_warnings(obj)

    @extend_schema_field(serializers.ChoiceField(choices=Reservation.CODE_STATES))
    def get_code_state(self, obj: Reservation) -> str:
        return obj.code_state(self.context.get("now"))

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_sent_at(self, obj: Reservation):
        code = _code_of(obj)
        if code is None or code.sent_at is None:
            return None
        return serializers.DateTimeField().to_representation(code.sent_at)

    # Writing.

    def validate_status(self, value: str) -> str:
        # The same transition table as the admin's: one rule, one place.
        previous = self.instance.status if self.instance is not None else None
        problem = status_change_problem(previous=previous, status=value)
        if problem:
            raise serializers.ValidationError(problem)
        return value

    def _listing(self, attrs: dict) -> Listing:
        return resolve_listing(
            _principal(self),
            by_id=attrs.get("listing"),
            external_id=attrs.pop("listing_external_id", None),
            instance=self.instance,
        )

    @staticmethod
    def _instant(value, listing: Listing, name: str) -> datetime.datetime:
        if not isinstance(value, datetime.datetime):  # a date alone
            day_at = listing.local_check_in if name == "check_in" else listing.local_check_out
            return day_at(value)
        if value.tzinfo is None:
            local = local_instant(value, listing.property.zone)
            if local is None:
                raise serializers.ValidationError(
                    {
                        name: [
                            f"This time does not exist in {listing.property.time_zone} "
                            "(the clocks change then)."
                        ]
                    }
                )
            return local
        return value

    def validate(self, attrs):
        instance = self.instance
        listing = self._listing(attrs)
        attrs["listing"] = listing
        for name in ("check_in", "check_out"):
            if name in attrs:
                attrs[name] = self._instant(attrs[name], listing, name)
        check_in = attrs.get("check_in", getattr(instance, "check_in", None))
        check_out = attrs.get("check_out", getattr(instance, "check_out", None))
        if check_in and check_out and check_out <= check_in:
            raise serializers.ValidationError({"check_out": ["Check-out must be after check-in."]})
        external_id = attrs.get("external_id", getattr(instance, "external_id", ""))
        if external_id and not self.context.get("upsert"):
            clash = Reservation.objects.filter(listing=listing, external_id=external_id)
            if instance is not None:
                clash = clash.exclude(pk=instance.pk)
            if clash.exists():
                raise serializers.ValidationError(
                    {
                        "external_id": [
                            "This listing already has a reservation with this external id; "
                            "PUT /api/v1/reservations/by-external-id/{external_id}/ updates it."
                        ]
                    }
                )
        return attrs


class UpsertListingSerializer(serializers.Serializer):
    """The first pass of an upsert: which listing the booking belongs to."""

    listing = ScopedPrimaryKeyRelatedField(
        queryset=Listing.objects.select_related("property"), required=False
    )
    listing_external_id = serializers.CharField(required=False, max_length=100)

    def validate(self, attrs):
        listing = resolve_listing(
            _principal(self),
            by_id=attrs.get("listing"),
            external_id=attrs.get("listing_external_id"),
            instance=None,
        )
        return {"listing": listing}


class OverrideSerializer(serializers.ModelSerializer):
    reservation = ScopedPrimaryKeyRelatedField(
        queryset=Reservation.objects.select_related("listing__property"),
        help_text="Set at creation only.",
    )
    assignment = ScopedPrimaryKeyRelatedField(
        queryset=LockAssignment.objects.select_related("device"),
        help_text="The lock (its assignment at the listing). Set at creation only.",
    )
    code = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=12,
        help_text="Your own code for this lock (digits). Empty: the reservation's code.",
    )
    lead_time_minutes = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=MAX_CODE_LEAD_MINUTES,
        help_text="Put the code on this lock this long before its window. Null: the listing's.",
    )
    starts_at = BoundedDateTimeField(
        required=False, allow_null=True, help_text="Null: the stay's window."
    )
    ends_at = BoundedDateTimeField(
        required=False, allow_null=True, help_text="Null: the stay's window."
    )

    class Meta:
        model = AccessOverride
        fields = [
            "id",
            "reservation",
            "assignment",
            "code",
            "lead_time_minutes",
            "starts_at",
            "ends_at",
        ]
        validators = []

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not may_see_codes(_principal(self), instance.reservation.organization_id):
            data["code"] = ""
        elif data.get("code") and _is_list(self):
            data["code"] = "•" * len(data["code"])
        return data

    def validate(self, attrs):
        instance = self.instance
        reservation = attrs.get("reservation") or instance.reservation
        assignment = attrs.get("assignment") or instance.assignment
        if instance is not None:
            for name, value in (("reservation", reservation), ("assignment", assignment)):
                if value.pk != getattr(instance, f"{name}_id"):
                    raise serializers.ValidationError(
                        {name: ["An override cannot move; delete it and set another."]}
                    )

        def current(name, default=None):
            return attrs[name] if name in attrs else getattr(instance, name, default)

        problems = override_problems(
            reservation=reservation,
            assignment=assignment,
            code=current("code", "") or "",
            lead_time_minutes=current("lead_time_minutes"),
            starts_at=current("starts_at"),
            ends_at=current("ends_at"),
        )
        if problems:
            raise serializers.ValidationError({k: [v] for k, v in problems.items()})
        return attrs


# ------------------------------------------------------------------------ activity


class EventSerializer(serializers.ModelSerializer):
    """Something a lock reported: an unlock, a code set or removed, a failure, a battery."""

    person = serializers.CharField(
        source="who",
        read_only=True,
        help_text="The guest or the named code that opened, else how the door was worked.",
    )

    class Meta:
        model = LockEvent
        fields = [
            "id",
            "occurred_at",
            "kind",
            "device",
            "reservation",
            "person",
            "method",
            "detail",
            "battery_level",
            "event_type",
        ]
        read_only_fields = fields


class AlertSerializer(serializers.ModelSerializer):
    """A problem at a lock (`device`), or at a listing with no lock (`listing`: a calendar
    feed failing, a double booking), a work item: open until its cause goes away (or, for
    an unlock while vacant, until acknowledged); kept once resolved."""

    state = serializers.ChoiceField(
        choices=[
            ("open", "Open"),
            ("acknowledged", "Acknowledged, still open"),
            ("resolved", "Resolved"),
        ],
        read_only=True,
    )
    acknowledged_by = serializers.CharField(
        source="acknowledged_by_name",
        read_only=True,
        help_text="Who acknowledged it: a person's name or an API key's label.",
    )

    class Meta:
        model = DeviceAlert
        fields = [
            "id",
            "kind",
            "state",
            "device",
            "listing",
            "reservation",
            "event",
            "message",
            "opened_at",
            "acknowledged_at",
            "acknowledged_by",
            "resolved_at",
            "resolution",
        ]
        read_only_fields = fields


# ------------------------------------------------------------------ listing import


class ListingImportSerializer(OrganizationOnCreateMixin, serializers.Serializer):
    """A file of listings (the admin's export shape) into one organization you manage."""

    file = serializers.FileField(help_text="CSV, TSV, XLSX or JSON, as the admin exports.")
    format = serializers.ChoiceField(
        choices=["csv", "tsv", "xlsx", "json"],
        required=False,
        help_text="Default: from the file name's extension.",
    )
    dry_run = serializers.BooleanField(
        default=False, help_text="Check and show what each row would do; write nothing."
    )
    organization = ScopedPrimaryKeyRelatedField(
        manage=True,
        queryset=Organization.objects.all(),
        required=False,
        help_text="Needed only when you manage several organizations.",
    )

    def validate_file(self, upload):
        too_large = size_problem(upload.size)
        if too_large:
            raise serializers.ValidationError(too_large)
        return upload

    def validate(self, attrs):
        self.resolve_organization(attrs)
        if not attrs.get("format"):
            attrs["format"] = format_for_name(attrs["file"].name or "")
            if attrs["format"] is None:
                raise serializers.ValidationError(
                    {"format": ["Give the file's format (csv, tsv, xlsx or json)."]}
                )
        return attrs


class ImportProblemSerializer(serializers.Serializer):
    row = serializers.IntegerField(allow_null=True, help_text="As a spreadsheet numbers it.")
    column = serializers.CharField(allow_null=True, help_text="The file's own column name.")
    message = serializers.CharField()


class ImportRowSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    external_id = serializers.CharField()
    action = serializers.ChoiceField(choices=["new", "update", "skip"])
    changes = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        help_text="Column → new value, for the cells an update changes.",
    )


class ListingImportResultSerializer(serializers.Serializer):
    organization = serializers.IntegerField()
    dry_run = serializers.BooleanField()
    written = serializers.BooleanField()
    totals = serializers.DictField(child=serializers.IntegerField())
    rows = ImportRowSerializer(many=True)
    errors = ImportProblemSerializer(many=True)


# --------------------------------------------------------------------------- crew


class CrewMemberSerializer(OrganizationOnCreateMixin, serializers.ModelSerializer):
    """Someone of the organization who opens doors but is not a guest."""

    organization = ScopedPrimaryKeyRelatedField(
        manage=True,
        queryset=Organization.objects.all(),
        required=False,
        help_text="Needed only when you manage several organizations.",
    )

    class Meta:
        model = CrewMember
        fields = ["id", "organization", "name", "email", "phone", "kind", "language", "active"]

    def validate(self, attrs):
        self.resolve_organization(attrs)
        return attrs


class TurnoverSerializer(serializers.ModelSerializer):
    """The gap between a stay's check-out and the next check-in: who cleans, when, and
    where its crew code is. The code itself is told to the assignee, never listed."""

    code_state = serializers.SerializerMethodField(
        help_text="Where the crew code is: none, planned, requested, confirmed, active…"
    )
    window_starts_at = serializers.SerializerMethodField()
    window_ends_at = serializers.SerializerMethodField()

    class Meta:
        model = Turnover
        fields = [
            "id",
            "listing",
            "after_stay",
            "next_stay",
            "starts_at",
            "ends_at",
            "window_starts_at",
            "window_ends_at",
            "assignee",
            "state",
            "impossible",
            "code_state",
            "started_at",
            "done_at",
            "done_by",
            "early_check_in_from",
        ]
        read_only_fields = fields

    def get_code_state(self, turnover: Turnover) -> str:
        return turnover_code_state(turnover, self.context.get("now"))

    def get_window_starts_at(self, turnover: Turnover) -> datetime.datetime:
        return turnover.window[0]

    def get_window_ends_at(self, turnover: Turnover) -> datetime.datetime:
        return turnover.window[1]


class TurnoverAssignSerializer(serializers.Serializer):
    assignee = ScopedPrimaryKeyRelatedField(
        queryset=CrewMember.objects.filter(active=True),
        allow_null=True,
        help_text="A crew member of the turnover's organization; null: nobody.",
    )
