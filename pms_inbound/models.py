"""A PMS pushing reservation webhooks to Keystay: its connection, each delivery, and the
newest version of each booking applied (so that an older update arriving late is ignored).
"""

from __future__ import annotations

import secrets

from django.db import models

from core.crypto import EncryptedValue
from properties.models import Organization
from reservations.models import Reservation


def new_public_id() -> str:
    # The webhook URL's only secret part besides the signature: unguessable, so that nobody
    # can probe which organizations have a PMS connected.
    return secrets.token_urlsafe(24)


class PmsConnection(models.Model):
    class Kind(models.TextChoices):
        GUESTY = "guesty", "Guesty"
        HOSTAWAY = "hostaway", "Hostaway"

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="pms_connections"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=200)
    public_id = models.CharField(max_length=64, unique=True, default=new_public_id, editable=False)
    # Secrets: stored encrypted, never rendered back (only their last four characters).
    # Guesty: the Svix signing secret (whsec_…) of the webhook. Hostaway: the password of
    # the basic authentication set on the unified webhook (`webhook_login` is its user).
    webhook_secret_ciphertext = models.TextField(blank=True, editable=False)
    webhook_secret_last4 = models.CharField(max_length=4, blank=True, editable=False)
    webhook_login = models.CharField(max_length=200, blank=True)
    # Guesty's Open API (client credentials) to fetch the guest a lean payload leaves out.
    api_client_id = models.CharField(max_length=200, blank=True)
    api_client_secret_ciphertext = models.TextField(blank=True, editable=False)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    webhook_secret = EncryptedValue("webhook_secret_ciphertext")
    api_client_secret = EncryptedValue("api_client_secret_ciphertext")

    class Meta:
        verbose_name = "PMS connection"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="pms_connection_name_unique_in_org"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def has_api_credentials(self) -> bool:
        return bool(self.api_client_id and self.api_client_secret_ciphertext)

    @property
    def masked_webhook_secret(self) -> str:
        return f"••••{self.webhook_secret_last4}" if self.webhook_secret_ciphertext else "—"


class PmsDelivery(models.Model):
    """One request the PMS sent: recorded on receipt, before anything is applied."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        APPLIED = "applied", "Applied"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"
        REFUSED = "refused", "Refused (not verified)"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", editable=False
    )
    connection = models.ForeignKey(
        PmsConnection, on_delete=models.CASCADE, related_name="deliveries"
    )
    # The PMS's own id of the delivery (Svix's message id for Guesty), or a hash of the
    # body where the PMS sends none: the same delivery twice is one row.
    delivery_key = models.CharField(max_length=200)
    event = models.CharField(max_length=100, blank=True)
    external_id = models.CharField(max_length=100, blank=True)
    listing_external_id = models.CharField(max_length=100, blank=True)
    source_updated_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.RECEIVED, db_index=True
    )
    reason = models.CharField(max_length=500, blank=True)
    # An unknown listing: raised until a person looks (or a later delivery applies).
    needs_attention = models.BooleanField(default=False)
    body = models.JSONField(null=True, blank=True)
    reservation = models.ForeignKey(
        Reservation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        verbose_name = "PMS delivery"
        verbose_name_plural = "PMS deliveries"
        ordering = ["-received_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "delivery_key"], name="pms_delivery_once_per_connection"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event or 'delivery'} {self.external_id}".strip()


class PmsBooking(models.Model):
    """The newest version of a PMS booking that Keystay has applied."""

    organization_lookup = "connection__organization"

    connection = models.ForeignKey(PmsConnection, on_delete=models.CASCADE, related_name="+")
    external_id = models.CharField(max_length=100)
    reservation = models.ForeignKey(
        Reservation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_updated_at = models.DateTimeField()
    # Guesty's lean payloads carry no contact details: without API credentials the stay
    # has no email or phone, and its guest cannot be messaged.
    contact_missing = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "external_id"], name="pms_booking_once_per_connection"
            ),
        ]

    def __str__(self) -> str:
        return self.external_id
