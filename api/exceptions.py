"""Errors every endpoint answers the same way: field-level 400s, 404, 409, 503 — never a 500.

Services raise Django's ValidationError, refuse codes, hit database constraints when a
concurrent request won a race, or fail at the lock provider; this handler turns each into
the HTTP answer a PMS can act on.
"""

from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import ProtectedError, RestrictedError
from rest_framework import exceptions, status
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from locks.gateway import ProviderError
from reservations.codes import CodeRefused


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The change conflicts with another one made meanwhile; reload and retry."
    default_code = "conflict"


class ProviderUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The lock provider cannot be reached right now; try again later."
    default_code = "provider_unavailable"


def as_api_validation_error(
    error: DjangoValidationError, *, rename: dict[str, str] | None = None
) -> exceptions.ValidationError:
    """A Django ValidationError as DRF's, with model field names turned into API names."""
    rename = rename or {}
    if hasattr(error, "error_dict"):
        detail = {}
        for name, messages in error.message_dict.items():
            key = api_settings.NON_FIELD_ERRORS_KEY if name == NON_FIELD_ERRORS else name
            detail.setdefault(rename.get(key, key), []).extend(messages)
        return exceptions.ValidationError(detail)
    return exceptions.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: error.messages})


def provider_exception(
    error: ProviderError, *, field: str | None = None
) -> exceptions.APIException:
    """A refused key or request is the client's to fix (400); an outage is a 503."""
    if error.kind == "unauthorized" or error.refused:
        key = field or api_settings.NON_FIELD_ERRORS_KEY
        return exceptions.ValidationError({key: [error.message]})
    return ProviderUnavailable(error.message)


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = as_api_validation_error(exc)
    elif isinstance(exc, CodeRefused):
        exc = exceptions.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [str(exc)]})
    elif isinstance(exc, ProtectedError | RestrictedError):
        exc = Conflict("Other records still depend on this one; it cannot be deleted.")
    elif isinstance(exc, IntegrityError):
        # A unique constraint lost a race with a concurrent request: nothing was written.
        exc = Conflict()
    elif isinstance(exc, ProviderError):
        exc = provider_exception(exc)
    return drf_exception_handler(exc, context)
