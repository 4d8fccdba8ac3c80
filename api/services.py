"""Writes of the api app: organization API keys, created and revoked.

The admin and the `create_api_key` command both go through these functions.
"""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone

from properties.models import Organization

from .models import OrganizationAPIKey


@transaction.atomic
def api_key_create(
    *,
    organization: Organization,
    name: str,
    role: str,
    created_by=None,
    expiry_date: datetime.datetime | None = None,
) -> tuple[OrganizationAPIKey, str]:
    """A new key of `organization` with `role`; returns it and the full key.

    The full key exists only in the return value: the database keeps its hash, so the
    caller must show it now or never.
    """
    api_key = OrganizationAPIKey(
        organization=organization,
        name=name,
        role=role,
        created_by=created_by,
        expiry_date=expiry_date,
    )
    plaintext = OrganizationAPIKey.objects.assign_key(api_key)
    api_key.full_clean()  # a blank or long name, an unknown role: ValidationError
    api_key.save()
    return api_key, plaintext


def api_key_revoke(*, api_key: OrganizationAPIKey) -> OrganizationAPIKey:
    """Revoke a key for good: its next request is a 401 (keys are read at each request)."""
    if not api_key.revoked:
        api_key.revoked = True
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked", "revoked_at"])
    return api_key
