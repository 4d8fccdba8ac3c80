"""Organization API keys: how a PMS or channel manager signs in to the API.

A key belongs to one organization and carries one role there, whoever made it: it never
reaches further than that organization, even when its creator is (or later becomes) a
member of others. Only a hash of the key is stored (djangorestframework-api-key's
AbstractAPIKey: `prefix.secret`, the prefix kept in clear to find the row and to name the
key on screen); the full key is shown once, when it is created.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey, BaseAPIKeyManager

from core.access import Principal, Role
from properties.models import Organization

# A key's last use is written at most this often: an API key may make a request every
# few milliseconds, and a row update per request would cost more than the request.
LAST_USED_RESOLUTION = datetime.timedelta(minutes=1)


class OrganizationAPIKeyManager(BaseAPIKeyManager):
    def assign_key(self, obj: OrganizationAPIKey) -> str:
        key = super().assign_key(obj)
        # The library's primary key is "prefix.hash"; ours is a plain number, so that the
        # hash stays in the database and never reaches a URL or a page.
        obj.id = None
        return key


class OrganizationAPIKey(AbstractAPIKey):
    Role = Role

    id = models.BigAutoField(primary_key=True)

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_keys"
    )
    role = models.CharField(
        max_length=16,
        choices=Role.choices,
        default=Role.STAFF,
        help_text="Staff read everything and write reservations; managers also change "
        "properties, listings, locks and connections.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who made the key (for the record only: the key does not act as them).",
    )
    last_used_at = models.DateTimeField(
        null=True, blank=True, help_text="To the minute.", verbose_name="last used"
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = OrganizationAPIKeyManager()

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"
        indexes = [models.Index(fields=["organization", "revoked"])]

    @property
    def principal(self) -> Principal:
        """Exactly this key's organization and role: never its creator's memberships."""
        return Principal(roles={self.organization_id: self.role}, label=f"API key {self.prefix}")

    def touch(self, now: datetime.datetime | None = None) -> None:
        """Record a use, writing the row only when the last write is a minute old.

        The condition is part of the UPDATE, so that concurrent requests write it once.
        """
        now = now or timezone.now()
        if self.last_used_at is not None and now - self.last_used_at < LAST_USED_RESOLUTION:
            return
        OrganizationAPIKey.objects.filter(pk=self.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        self.last_used_at = now
