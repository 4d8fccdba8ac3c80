"""The REST API's endpoints, under /api/v1/.

Thin views: the queryset is narrowed to the caller's principal (an API key's one
organization, or a signed-in person's; another organization's object answers 404), a
serializer validates, a service writes, and the written object is read back the way a GET
shows it.
"""

from __future__ import annotations

from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Prefetch
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from core import access
from locks import services as lock_services
from locks.gateway import ProviderError
from locks.listing_import import import_listings, size_problem
from locks.models import Device, LockAssignment, LockProviderConnection
from locks.services import connection_create, connection_request_sync, devices_sync
from properties import services as property_services
from properties.models import CrewMember, Listing, Property
from reservations import services as reservation_services
from reservations import verification
from reservations.alerts import alert_acknowledge
from reservations.models import (
    AccessOverride,
    DeviceAlert,
    LockAccess,
    LockEvent,
    Reservation,
    Turnover,
)
from reservations.turnovers import turnover_assign, turnover_done

from . import filters
from . import serializers as api
from .authentication import principal_for
from .exceptions import as_api_validation_error, provider_exception
from .permissions import OrganizationRole
from .schema import VALIDATION_ERROR

# Model field names that the API spells differently, for errors raised by models.
API_NAMES = {"time_zone": "timezone", "code_lead_time_minutes": "lead_time_minutes"}


def valid_external_id(value: str) -> bool:
    """An external id as stored: 1–100 characters, none of them NUL (PostgreSQL refuses it)."""
    return 0 < len(value) <= 100 and "\x00" not in value


@contextmanager
def service_errors():
    """A service's ValidationError is a 400 with the API's field names."""
    try:
        yield
    except DjangoValidationError as error:
        raise as_api_validation_error(error, rename=API_NAMES) from error


class ScopedViewSet(viewsets.GenericViewSet):
    """Rows of the caller's organizations only; `managers_write`: changes need a manager."""

    permission_classes = [OrganizationRole]
    managers_write = True
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        return access.scope_queryset(super().get_queryset(), principal_for(self.request))

    def get_serializer_context(self):
        # One instant for a whole response: every derived state is read at the same time.
        return {**super().get_serializer_context(), "now": timezone.now()}

    def reread(self, instance):
        """The written object as a GET shows it (fresh relations and derived state)."""
        return self.get_queryset().get(pk=instance.pk)


# ------------------------------------------------------------------ organization settings


class PropertyViewSet(ScopedViewSet, viewsets.ModelViewSet):
    """Buildings or addresses; check-in and check-out times are local to their time zone."""

    queryset = Property.objects.all()
    serializer_class = api.PropertySerializer
    filterset_class = filters.PropertyFilter
    ordering_fields = ["id", "name", "created_at"]
    ordering = ["name", "id"]

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        with service_errors():
            serializer.instance = property_services.property_create(
                organization=data.pop("organization"), **data
            )

    def perform_update(self, serializer):
        with service_errors():
            serializer.instance = property_services.property_update(
                prop=serializer.instance, **serializer.validated_data
            )

    def perform_destroy(self, instance):
        property_services.property_delete(prop=instance)


class ListingViewSet(ScopedViewSet, viewsets.ModelViewSet):
    """Rentable units. A change of buffers, lead time or code rules re-plans their codes."""

    queryset = Listing.objects.all()
    serializer_class = api.ListingSerializer
    filterset_class = filters.ListingFilter
    ordering_fields = ["id", "name", "external_id", "created_at"]
    ordering = ["name", "id"]

    def perform_create(self, serializer):
        with service_errors():
            serializer.instance = property_services.listing_create(**serializer.validated_data)

    def perform_update(self, serializer):
        with service_errors():
            serializer.instance = property_services.listing_update(
                listing=serializer.instance, **serializer.validated_data
            )

    def perform_destroy(self, instance):
        property_services.listing_delete(listing=instance)

    @extend_schema(
        summary="Find a listing by its PMS id",
        responses={200: api.ListingSerializer, 400: VALIDATION_ERROR},
        parameters=[
            OpenApiParameter("external_id", str, OpenApiParameter.PATH),
            OpenApiParameter(
                "organization",
                int,
                description="Needed only when several of your organizations use this id.",
            ),
        ],
    )
    @action(detail=False, methods=["get"], url_path=r"by-external-id/(?P<external_id>[^/]+)")
    def by_external_id(self, request, external_id: str, format=None):
        if not valid_external_id(external_id):
            return Response({"detail": "No such listing."}, status=status.HTTP_404_NOT_FOUND)
        queryset = self.get_queryset().filter(external_id=external_id)
        organization = request.query_params.get("organization", "")
        if organization:
            if not (organization.isascii() and organization.isdigit() and len(organization) < 19):
                raise serializers.ValidationError({"organization": ["Send an id."]})
            queryset = queryset.filter(organization_id=int(organization))
        matches = list(queryset[:2])
        if not matches:
            return Response({"detail": "No such listing."}, status=status.HTTP_404_NOT_FOUND)
        if len(matches) > 1:
            raise serializers.ValidationError(
                {"organization": ["Several of your organizations use this id: choose one."]}
            )
        return Response(self.get_serializer(matches[0]).data)

    @extend_schema(
        summary="Import listings from a file (all rows or none)",
        request={"multipart/form-data": api.ListingImportSerializer},
        responses={
            200: api.ListingImportResultSerializer,
            # Problems in the file: the result's shape, with `errors` (row, column, message);
            # a malformed request (no file, a crafted organization): messages per field.
            400: OpenApiResponse(
                response=OpenApiTypes.OBJECT,
                description="Nothing written. Problems in the file: the 200 shape with "
                "`errors` (row, column, message each); a malformed request: messages per "
                "field.",
            ),
        },
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[MultiPartParser, FormParser],
    )
    def import_file(self, request, format=None):
        """The admin's listing import: per-row actions, or per-row errors and nothing written."""
        # Refused on the request's declared length, before the upload is received and
        # parsed; the file's own size is checked again by the serializer.
        too_large = size_problem(request_length(request) - UPLOAD_OVERHEAD_BYTES)
        if too_large:
            raise serializers.ValidationError({"file": [too_large]})
        serializer = api.ListingImportSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = import_listings(
            organization=data["organization"],
            data=data["file"].read(),
            file_format=data["format"],
            dry_run=data["dry_run"],
        )
        body = {
            "organization": data["organization"].pk,
            "dry_run": data["dry_run"],
            "written": result.written,
            "totals": result.totals(),
            "rows": [row.as_dict() for row in result.plan.rows] if result.ok else [],
            "errors": [problem.as_dict() for problem in result.problems],
        }
        code = status.HTTP_200_OK if result.ok else status.HTTP_400_BAD_REQUEST
        return Response(api.ListingImportResultSerializer(body).data, status=code)


# What a multipart request adds around its file (boundaries, headers, the other fields).
UPLOAD_OVERHEAD_BYTES = 64 * 1024


def request_length(request) -> int:
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


class DeviceViewSet(ScopedViewSet, viewsets.ReadOnlyModelViewSet):
    """PIN-code locks and access-control entrances imported from your connections."""

    queryset = Device.objects.all()
    serializer_class = api.DeviceSerializer
    filterset_class = filters.DeviceFilter
    ordering_fields = ["id", "name", "battery_level", "created_at"]
    ordering = ["name", "id"]


class AssignmentViewSet(ScopedViewSet, viewsets.ModelViewSet):
    """Which devices a listing uses: one primary lock at most; per lock, guest access, staff
    (crew) access and the label guests and crew read."""

    queryset = LockAssignment.objects.all()
    serializer_class = api.AssignmentSerializer
    filterset_class = filters.AssignmentFilter
    ordering_fields = ["id", "created_at"]
    ordering = ["id"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        with service_errors():
            serializer.instance = lock_services.assignment_create(
                listing=data["listing"],
                device=data["device"],
                role=data.get("role", LockAssignment.Role.SECONDARY),
                guest_access=data.get("guest_access", True),
                staff_access=data.get("staff_access", False),
                label=data.get("label", ""),
            )

    def perform_update(self, serializer):
        assignment, data = serializer.instance, serializer.validated_data
        with service_errors():
            serializer.instance = lock_services.assignment_update(
                assignment=assignment,
                role=data.get("role", assignment.role),
                guest_access=data.get("guest_access", assignment.guest_access),
                staff_access=data.get("staff_access"),
                label=data.get("label"),
            )

    def perform_destroy(self, instance):
        lock_services.assignment_delete(assignment=instance)


class ConnectionViewSet(
    ScopedViewSet, mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin
):
    """Seam workspaces. The API key is checked at Seam, stored encrypted, never shown again."""

    queryset = LockProviderConnection.objects.all()
    serializer_class = api.ConnectionSerializer
    filterset_class = filters.ConnectionFilter
    ordering_fields = ["id", "name", "created_at"]
    ordering = ["name", "id"]
    provider_calls = True  # documents the 503 of a provider outage

    def perform_create(self, serializer):
        data = serializer.validated_data
        try:
            with service_errors():
                connection = connection_create(
                    organization=data["organization"],
                    name=data["name"],
                    api_key=data["api_key"],
                    endpoint=data.get("endpoint", ""),
                )
        except ProviderError as error:
            raise provider_exception(error, field="api_key") from error
        connection_request_sync(connection=connection)  # import its devices, as the page does
        serializer.instance = connection

    @extend_schema(
        summary="Import the connection's devices now",
        request=None,
        responses={200: api.SyncResultSerializer},
    )
    @action(detail=True, methods=["post"])
    def sync(self, request, pk=None, format=None):
        connection = self.get_object()
        try:
            result = devices_sync(connection=connection)
        except ProviderError as error:
            raise provider_exception(error) from error
        return Response(result.as_dict())


# ------------------------------------------------------------------------ reservations


class ReservationViewSet(
    ScopedViewSet,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
):
    """Stays. Confirmed ones get one code, put on every guest-access lock of the listing."""

    managers_write = False  # staff work on reservations, as in the admin
    queryset = Reservation.objects.select_related("listing", "code").prefetch_related(
        Prefetch(
            "lock_accesses",
            LockAccess.objects.select_related("device", "assignment").order_by(
                "device__name", "pk"
            ),
        )
    )
    serializer_class = api.ReservationSerializer
    filterset_class = filters.ReservationFilter
    ordering_fields = ["id", "check_in", "check_out", "created_at", "updated_at"]
    ordering = ["-check_in", "-id"]

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        data.setdefault("source", "api")
        with service_errors():
            reservation = reservation_services.reservation_create(**data)
        serializer.instance = self.reread(reservation)

    def perform_update(self, serializer):
        with service_errors():
            reservation = reservation_services.reservation_update(
                reservation=serializer.instance, **serializer.validated_data
            )
        serializer.instance = self.reread(reservation)

    def _done(self, reservation) -> Response:
        return Response(self.get_serializer(self.reread(reservation)).data)

    @extend_schema(summary="Confirm: a code is generated", request=None)
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None, format=None):
        reservation = self.get_object()
        if reservation.status == Reservation.Status.CHECKED_OUT:
            raise serializers.ValidationError({"status": ["This stay has ended."]})
        if reservation.status != Reservation.Status.CONFIRMED:
            with service_errors():
                reservation_services.reservation_confirm(reservation=reservation)
        return self._done(reservation)

    @extend_schema(summary="Cancel: the code is revoked on every lock at once", request=None)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None, format=None):
        reservation = self.get_object()
        if reservation.status == Reservation.Status.CHECKED_OUT:
            raise serializers.ValidationError({"status": ["This stay has ended."]})
        if reservation.status != Reservation.Status.CANCELLED:
            with service_errors():
                reservation_services.reservation_cancel(reservation=reservation)
        return self._done(reservation)

    @extend_schema(summary="End the stay now: the code leaves every lock", request=None)
    @action(detail=True, methods=["post"], url_path="end-stay")
    def end_stay(self, request, pk=None, format=None):
        reservation = self.get_object()
        if reservation.status in (Reservation.Status.PENDING, Reservation.Status.CANCELLED):
            raise serializers.ValidationError({"status": ["Only a confirmed stay can end."]})
        if reservation.status != Reservation.Status.CHECKED_OUT:
            reservation_services.reservation_end_stay(reservation=reservation)
        return self._done(reservation)

    @extend_schema(
        summary="Mark the guest verified: a held code goes on the locks and to the guest",
        description=(
            "For a PMS or a verification service. A stay whose listing requires a verified "
            "guest keeps its code held (on no lock, in no message, webhook or answer) until "
            "then. Once verified the code goes on every lock at once or at its lead time, "
            "and the guest's scheduled messages follow. Verified after check-in: at once. "
            "After check-out or on a cancelled stay: recorded in its history, nothing "
            "released. Verifying twice changes nothing."
        ),
        request=api.VerifySerializer,
        responses={200: api.ReservationSerializer},
    )
    @action(detail=True, methods=["post"])
    def verify(self, request, pk=None, format=None):
        reservation = self.get_object()
        given = api.VerifySerializer(data=request.data or {})
        given.is_valid(raise_exception=True)
        with service_errors():
            verification.reservation_verify(
                reservation=reservation,
                by=principal_for(request),
                source=given.validated_data.get("verified_by", ""),
                verified_at=given.validated_data.get("verified_at"),
            )
        return self._done(reservation)

    @extend_schema(
        summary="Revoke the guest's verification: the code is held again, off the locks",
        description=(
            "Before check-in only (400 after: end or cancel the stay instead). The code "
            "comes off every lock it reached and is shown to nobody until the stay is "
            "verified again."
        ),
        request=api.UnverifySerializer,
        responses={200: api.ReservationSerializer},
    )
    @action(detail=True, methods=["post"])
    def unverify(self, request, pk=None, format=None):
        reservation = self.get_object()
        given = api.UnverifySerializer(data=request.data or {})
        given.is_valid(raise_exception=True)
        with service_errors():
            verification.reservation_unverify(
                reservation=reservation,
                by=principal_for(request),
                reason=given.validated_data.get("reason", ""),
            )
        return self._done(reservation)

    @extend_schema(
        summary="Create or update a reservation by its PMS id",
        description=(
            "Idempotent: the same booking sent twice is one reservation with one code. "
            "Send the listing (`listing` or `listing_external_id`); fields left out keep "
            "their value. 201 when created, 200 when updated."
        ),
        parameters=[OpenApiParameter("external_id", str, OpenApiParameter.PATH)],
        request=api.ReservationSerializer,
        responses={200: api.ReservationSerializer, 201: api.ReservationSerializer},
    )
    @action(
        detail=False,
        methods=["put"],
        url_path=r"by-external-id/(?P<external_id>[^/]+)",
        url_name="upsert",
    )
    def upsert(self, request, external_id: str, format=None):
        if not valid_external_id(external_id):
            raise serializers.ValidationError(
                {"external_id": ["An external id has 1 to 100 characters, none of them NUL."]}
            )
        if not isinstance(request.data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": ["Send the reservation as a JSON object."]}
            )
        data = {**request.data, "external_id": external_id}
        context = self.get_serializer_context()
        target = api.UpsertListingSerializer(data=data, context=context)
        target.is_valid(raise_exception=True)
        listing = target.validated_data["listing"]
        booked = self.get_queryset().filter(listing=listing, external_id=external_id)
        existing = booked.first()
        serializer = self.get_serializer_class()(
            existing, data=data, partial=existing is not None, context={**context, "upsert": True}
        )
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        with service_errors():
            try:
                with transaction.atomic():
                    if existing is None:
                        reservation = reservation_services.reservation_create(
                            **{"source": "api", **fields}
                        )
                    else:
                        reservation = reservation_services.reservation_update(
                            reservation=existing, **fields
                        )
            except (IntegrityError, DjangoValidationError):
                # The same booking arrived twice at once and the other request created it
                # meanwhile: this one becomes its update.
                if existing is not None or (existing := booked.first()) is None:
                    raise
                reservation = reservation_services.reservation_update(
                    reservation=existing, **fields
                )
        code = status.HTTP_201_CREATED if existing is None else status.HTTP_200_OK
        return Response(self.get_serializer(self.reread(reservation)).data, status=code)


class OverrideViewSet(ScopedViewSet, viewsets.ModelViewSet):
    """One lock's exception for one stay: its own code, lead time or window.

    POST sets it: a second POST for the same reservation and lock replaces the first.
    """

    managers_write = False
    queryset = AccessOverride.objects.select_related(
        "reservation__listing__property", "assignment__device"
    )
    serializer_class = api.OverrideSerializer
    filterset_class = filters.OverrideFilter
    ordering_fields = ["id", "created_at", "updated_at"]
    ordering = ["id"]

    def _save(self, serializer, override):
        data = serializer.validated_data

        def value(name, default=None):
            return data[name] if name in data else getattr(override, name, default)

        with service_errors():
            return reservation_services.override_set(
                reservation=value("reservation"),
                assignment=value("assignment"),
                override=override,
                code=value("code", "") or "",
                lead_time_minutes=value("lead_time_minutes"),
                starts_at=value("starts_at"),
                ends_at=value("ends_at"),
            )

    @extend_schema(responses={200: api.OverrideSerializer, 201: api.OverrideSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        existing = AccessOverride.objects.filter(
            reservation=serializer.validated_data["reservation"],
            assignment=serializer.validated_data["assignment"],
        ).first()
        if existing is not None:
            serializer = self.get_serializer(existing, data=request.data)
            serializer.is_valid(raise_exception=True)
        override = self._save(serializer, existing)
        data = self.get_serializer(self.reread(override)).data
        code = status.HTTP_200_OK if existing is not None else status.HTTP_201_CREATED
        return Response(data, status=code)

    def perform_update(self, serializer):
        serializer.instance = self.reread(self._save(serializer, serializer.instance))

    def perform_destroy(self, instance):
        reservation_services.override_delete(override=instance)


class EventViewSet(ScopedViewSet, viewsets.ReadOnlyModelViewSet):
    """The activity feed: what the locks reported, newest first."""

    queryset = LockEvent.objects.all()
    serializer_class = api.EventSerializer
    filterset_class = filters.EventFilter
    ordering_fields = ["id", "occurred_at"]
    ordering = ["-occurred_at", "-id"]


class AlertViewSet(ScopedViewSet, viewsets.ReadOnlyModelViewSet):
    """Lock alerts, newest first: open ones unless `state` asks for resolved ones or all.

    Staff and managers acknowledge an alert; it stays open until its cause goes away.
    """

    managers_write = False  # acknowledging is staff's work, as on the dashboard
    queryset = DeviceAlert.objects.all()
    serializer_class = api.AlertSerializer
    filterset_class = filters.AlertFilter
    ordering_fields = ["id", "opened_at", "resolved_at"]
    ordering = ["-opened_at", "-id"]

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        # Only the list defaults to open alerts: a resolved one is still found by its id.
        if self.action == "list" and not self.request.query_params.get("state"):
            queryset = queryset.filter(resolved_at__isnull=True)
        return queryset

    @extend_schema(
        summary="Acknowledge: someone is on it (who and when are recorded, once)",
        request=None,
        responses={200: api.AlertSerializer},
    )
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None, format=None):
        alert = alert_acknowledge(alert=self.get_object(), by=request.user)
        return Response(self.get_serializer(self.reread(alert)).data)


# --------------------------------------------------------------------------- crew


class CrewMemberViewSet(ScopedViewSet, viewsets.ModelViewSet):
    """People who open doors but are not guests (cleaners, maintenance, owners, vendors).
    Managers add and change them; a turnover gives its assignee a code of their own."""

    queryset = CrewMember.objects.all()
    serializer_class = api.CrewMemberSerializer
    ordering_fields = ["id", "name", "created_at"]
    ordering = ["name", "id"]

    def perform_destroy(self, instance):
        # Offboarding in one act: inactive, and every code of theirs off every door.
        from .standing import offboard

        offboard(instance, self.request)

    def perform_update(self, serializer):
        leaving = serializer.instance.active and serializer.validated_data.get("active") is False
        if leaving:
            serializer.validated_data["active"] = True  # the offboarding deactivates
        super().perform_update(serializer)
        if leaving:
            from .standing import offboard

            offboard(serializer.instance, self.request)
            serializer.instance.refresh_from_db()

    @extend_schema(
        summary="Offboard: deactivate, and take every code of theirs off every door",
        request=None,
        responses={
            200: OpenApiResponse(
                description="The clearance report; for someone already offboarded, with no "
                "code of theirs left to clear, their latest report (nothing new is made)"
            )
        },
    )
    @action(detail=True, methods=["post"])
    def offboard(self, request, pk=None, format=None):
        from .standing import CodeClearanceSerializer, offboard

        clearance = offboard(self.get_object(), request)
        return Response(CodeClearanceSerializer(clearance, context={"request": request}).data)


class TurnoverViewSet(ScopedViewSet, viewsets.ReadOnlyModelViewSet):
    """Turnovers, soonest first: listed, assigned, and marked done ("unit ready") by
    staff or a cleaning app. They follow the stays by themselves."""

    managers_write = False  # assigning and marking done are staff's work too
    queryset = Turnover.objects.select_related("listing__property").prefetch_related(
        "lock_accesses"
    )
    serializer_class = api.TurnoverSerializer
    ordering_fields = ["id", "starts_at"]
    ordering = ["starts_at", "id"]

    @extend_schema(
        summary="Assign the turnover to a crew member (or to nobody)",
        request=api.TurnoverAssignSerializer,
        responses={200: api.TurnoverSerializer, 400: VALIDATION_ERROR},
    )
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None, format=None):
        turnover = self.get_object()
        payload = api.TurnoverAssignSerializer(data=request.data, context={"request": request})
        payload.is_valid(raise_exception=True)
        assignee = payload.validated_data["assignee"]
        if assignee is not None and assignee.organization_id != turnover.organization_id:
            raise serializers.ValidationError(
                {"assignee": ["Pick a crew member of the turnover's organization."]}
            )
        turnover_assign(turnover=turnover, assignee=assignee)
        return Response(self.get_serializer(self.reread(turnover)).data)

    @extend_schema(
        summary="Done: the unit is ready (marking it twice does nothing more)",
        request=None,
        responses={200: api.TurnoverSerializer},
    )
    @action(detail=True, methods=["post"])
    def done(self, request, pk=None, format=None):
        turnover = self.get_object()
        principal = principal_for(request)
        who = principal.label or str(request.user)
        try:
            turnover_done(turnover=turnover, by=f"{who} (API)")
        except DjangoValidationError as error:
            raise as_api_validation_error(error) from error
        return Response(self.get_serializer(self.reread(turnover)).data)
