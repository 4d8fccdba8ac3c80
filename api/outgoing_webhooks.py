"""Outgoing webhooks in the API: endpoints (CRUD, secret rotation) and their deliveries
(list, detail, resend), under /api/v1/webhook-endpoints/ and /api/v1/webhook-deliveries/.

The same rules as the admin: members read, managers write and resend; another
organization's endpoint or delivery is a 404. An endpoint's secret is in the answer to its
creation (and to a rotation) only, never in a GET.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.outbound import MAX_URL_LENGTH, validate_outbound_url
from hooks import payloads, services
from hooks.models import WebhookDelivery, WebhookEndpoint
from properties.models import Organization
from reservations.signals import EVENTS

from .filters import IdFilter
from .serializers import OrganizationOnCreateMixin, ScopedPrimaryKeyRelatedField
from .views import ScopedViewSet, service_errors

# ------------------------------------------------------------------------ serializers


class WebhookEndpointSerializer(OrganizationOnCreateMixin, serializers.ModelSerializer):
    organization = ScopedPrimaryKeyRelatedField(
        manage=True,
        queryset=Organization.objects.all(),
        required=False,
        help_text="Needed only when you manage several organizations.",
    )
    url = serializers.CharField(
        max_length=MAX_URL_LENGTH,
        help_text="An https:// address on the public internet; Keystay POSTs each event there.",
    )
    events = serializers.ListField(
        child=serializers.CharField(max_length=64),
        allow_empty=False,
        help_text=f"Events sent to this endpoint, among: {', '.join(EVENTS)}.",
    )
    masked_secret = serializers.CharField(
        read_only=True, help_text="The signing secret's last characters (it is shown once)."
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "organization",
            "url",
            "description",
            "events",
            "include_codes",
            "active",
            "masked_secret",
            "secret_rotated_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["secret_rotated_at", "created_at", "updated_at"]

    def validate_url(self, value: str) -> str:
        # Checked when set or changed (a host whose DNS moved must not keep a manager from
        # switching an endpoint off); every delivery checks it again anyway.
        if self.instance is None or value != self.instance.url:
            validate_outbound_url(value)
        return value

    def validate_events(self, value: list[str]) -> list[str]:
        problem = services.events_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value

    def validate(self, attrs):
        self.resolve_organization(attrs)
        return attrs


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text="The signing secret (whsec_…): store it now, it is never shown again.",
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookSecretSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="The new signing secret: shown this once.")
    previous_secret_valid_until = serializers.DateTimeField(
        help_text="Until then deliveries are signed with the previous secret too."
    )


class WebhookDeliverySerializer(serializers.ModelSerializer):
    payload = serializers.SerializerMethodField(
        help_text="The body sent (the same at every attempt), door codes hidden."
    )

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint",
            "event",
            "event_id",
            "occurred_at",
            "reservation",
            "state",
            "attempts",
            "last_attempt_at",
            "next_attempt_at",
            "retry_until",
            "last_status_code",
            "last_response",
            "last_error",
            "delivered_at",
            "resent_at",
            "created_at",
            "payload",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "object", "additionalProperties": True})
    def get_payload(self, obj: WebhookDelivery) -> dict:
        return payloads.masked(obj.payload)


# ------------------------------------------------------------------------ filters


class WebhookEndpointFilter(filters.FilterSet):
    organization = IdFilter(field_name="organization_id")
    active = filters.BooleanFilter()

    class Meta:
        model = WebhookEndpoint
        fields = ["organization", "active"]


class WebhookDeliveryFilter(filters.FilterSet):
    endpoint = IdFilter(field_name="endpoint_id")
    reservation = IdFilter(field_name="reservation_id")
    state = filters.ChoiceFilter(choices=WebhookDelivery.State.choices)
    event = filters.ChoiceFilter(choices=[(event, event) for event in EVENTS])

    class Meta:
        model = WebhookDelivery
        fields = ["endpoint", "reservation", "state", "event"]


# ------------------------------------------------------------------------ views


class WebhookEndpointViewSet(ScopedViewSet, viewsets.ModelViewSet):
    """Where Keystay sends the events of your stays' codes (a PMS that messages guests)."""

    queryset = WebhookEndpoint.objects.all()
    serializer_class = WebhookEndpointSerializer
    filterset_class = WebhookEndpointFilter
    ordering_fields = ["id", "url", "created_at"]
    ordering = ["id"]

    @extend_schema(responses={201: WebhookEndpointCreatedSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with service_errors():
            endpoint, secret = services.endpoint_create(
                organization=data["organization"],
                url=data["url"],
                events=data["events"],
                description=data.get("description", ""),
                include_codes=data.get("include_codes", True),
                active=data.get("active", True),
                # A person signed in; an API key is no user (it records no creator).
                created_by=request.user if isinstance(request.user, get_user_model()) else None,
            )
        body = WebhookEndpointSerializer(
            self.reread(endpoint), context=self.get_serializer_context()
        ).data
        # The one answer that carries the secret.
        return Response({**body, "secret": secret}, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        with service_errors():
            serializer.instance = services.endpoint_update(
                endpoint=serializer.instance, **serializer.validated_data
            )

    def perform_destroy(self, instance):
        services.endpoint_delete(endpoint=instance)

    @extend_schema(
        summary="A new signing secret (the previous one also signs for a day)",
        request=None,
        responses={200: WebhookSecretSerializer},
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None, format=None):
        endpoint = self.get_object()
        secret = services.endpoint_rotate_secret(endpoint=endpoint)
        endpoint.refresh_from_db()
        return Response(
            WebhookSecretSerializer(
                {"secret": secret, "previous_secret_valid_until": endpoint.previous_secret_until}
            ).data
        )


class WebhookDeliveryViewSet(ScopedViewSet, viewsets.ReadOnlyModelViewSet):
    """Every event owed to your endpoints, newest first: its attempts and the last answer.

    Managers resend one: it is sent again now (same body, same event id), and retried for
    another day if that fails.
    """

    queryset = WebhookDelivery.objects.all()
    serializer_class = WebhookDeliverySerializer
    filterset_class = WebhookDeliveryFilter
    ordering_fields = ["id", "created_at", "next_attempt_at"]
    ordering = ["-created_at", "-id"]

    @extend_schema(
        summary="Send it again now", request=None, responses={200: WebhookDeliverySerializer}
    )
    @action(detail=True, methods=["post"])
    def resend(self, request, pk=None, format=None):
        delivery = services.delivery_resend(delivery=self.get_object())
        return Response(self.get_serializer(self.reread(delivery)).data)
