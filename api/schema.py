"""The OpenAPI schema: every answer an operation may give, and Keystay's own fields.

drf-spectacular documents the success answers; the errors below are added to each
operation so that a client (and the schema fuzz test) knows every status code to expect.
"""

from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


VALIDATION_ERROR = OpenApiResponse(
    response=OpenApiTypes.OBJECT,
    description="Invalid input: a list of messages per field (`non_field_errors` for the rest).",
)


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorSerializer, description=description)


class KeystayAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        errors = {
            "401": _error("No valid API key or session."),
            "403": _error("Your role does not allow this."),
            "429": _error("Too many requests for this API key; retry later."),
        }
        writes = self.method in ("POST", "PUT", "PATCH", "DELETE")
        if writes or self._is_list_view():
            errors["400"] = VALIDATION_ERROR
        if "{" in self.path or self._is_list_view():
            errors["404"] = _error(
                "Not found among your organizations' objects (or no such page)."
            )
        if writes:
            errors["409"] = _error("Conflicts with another change, or still in use.")
        if getattr(self.view, "provider_calls", False) and writes:
            errors["503"] = _error("The lock provider cannot be reached; try again later.")
        for code, response in errors.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, direction=direction)
        return responses


class InstantOrDateFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "api.fields.InstantOrDateField"

    def map_serializer_field(self, auto_schema, direction):
        instant = build_basic_type(OpenApiTypes.DATETIME)
        if direction == "response":
            return instant
        return {"anyOf": [instant, build_basic_type(OpenApiTypes.DATE)]}


class LocalTimeFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "api.fields.LocalTimeField"

    def map_serializer_field(self, auto_schema, direction):
        from .fields import LocalTimeField

        return {"type": "string", "pattern": LocalTimeField.PATTERN, "example": "15:00"}


class OrganizationAPIKeyScheme(OpenApiAuthenticationExtension):
    """The bearer scheme of organization API keys, offered by Swagger UI's Authorize."""

    target_class = "api.authentication.OrganizationAPIKeyAuthentication"
    name = "organizationApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "An organization API key: `Authorization: Bearer <key>`. It acts in its "
                "one organization with its role (manager or staff)."
            ),
        }
