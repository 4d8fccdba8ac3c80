"""Outgoing webhooks: the endpoints an organization registers, and an outbox of deliveries.

A delivery row is written when a stay event happens (hooks.receivers) and carried out by
the django-q2 cluster (hooks.services.deliver_due): the row, not a queued task, is the
record that work is owed, so a task lost with a worker is picked up by the next sweep.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.crypto import EncryptedValue
from core.outbound import MAX_URL_LENGTH
from properties.models import Organization
from reservations.models import Reservation
from reservations.signals import EVENTS

EVENT_CHOICES = [(event, event) for event in EVENTS]


class WebhookEndpoint(models.Model):
    """A receiver of an organization (a PMS that messages guests itself) and what it hears.

    Its URL is checked (core.outbound) by the services when it is set or changed, not as a
    model validator: a host whose DNS moved must not stop a manager from switching the
    endpoint off.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.CharField(
        "URL",
        max_length=MAX_URL_LENGTH,
        help_text="Where Keystay POSTs each event, e.g. https://pms.example.com/keystay.",
    )
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(
        default=list, help_text="The events sent to this endpoint (at least one)."
    )
    include_codes = models.BooleanField(
        "include door codes",
        default=True,
        help_text="Send each door's code with the code events, for a PMS that tells the "
        "guest. Off: the doors are listed without their codes.",
    )
    active = models.BooleanField(
        default=True, help_text="Off: nothing is sent to it, not even deliveries already owed."
    )
    secret_ciphertext = models.TextField(editable=False)
    # The secret's last characters, to tell secrets apart on screen: never the rest.
    secret_hint = models.CharField(max_length=4, editable=False)
    # After a rotation, deliveries are also signed with the previous secret until then,
    # so that a receiver can switch to the new one without refusing anything meanwhile.
    previous_secret_ciphertext = models.TextField(blank=True, editable=False)
    previous_secret_until = models.DateTimeField(null=True, blank=True, editable=False)
    secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    secret = EncryptedValue("secret_ciphertext")
    previous_secret = EncryptedValue("previous_secret_ciphertext")

    class Meta:
        verbose_name = "webhook endpoint"
        ordering = ["organization", "url", "pk"]
        indexes = [models.Index(fields=["organization", "active"])]

    def __str__(self) -> str:
        return self.description or self.url

    @property
    def masked_secret(self) -> str:
        return f"whsec_…{self.secret_hint}" if self.secret_hint else ""


class WebhookDelivery(models.Model):
    """One event owed to one endpoint: its body, every attempt's outcome, the next one due."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", editable=False
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=64, choices=EVENT_CHOICES)
    # The event's id in the body: the same for every endpoint and every attempt, so a
    # receiver recognises an event it already handled.
    event_id = models.CharField(max_length=40, db_index=True)
    occurred_at = models.DateTimeField()
    reservation = models.ForeignKey(
        Reservation, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The JSON body, encrypted: it may carry door codes.
    payload_ciphertext = models.TextField(editable=False)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # When the next attempt is due (null once delivered or failed). While an attempt is
    # under way it is pushed a lease ahead, so that a worker dying mid-request leaves the
    # row due again later instead of owed forever or sent in a loop.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # No attempt starts after this instant: a day after the event, or after a resend.
    retry_until = models.DateTimeField()
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response = models.TextField(blank=True, help_text="The start of the last answer.")
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    resent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    payload_text = EncryptedValue("payload_ciphertext")

    class Meta:
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state="pending"),
                name="hooks_delivery_due",
            ),
            models.Index(fields=["organization", "-created_at"]),
            models.Index(fields=["endpoint", "-created_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event_id"], name="hooks_delivery_once_per_endpoint"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint_id} ({self.state})"

    @property
    def payload(self) -> dict:
        return json.loads(self.payload_text) if self.payload_ciphertext else {}

    @payload.setter
    def payload(self, value: dict) -> None:
        self.payload_text = json.dumps(value, separators=(",", ":"), sort_keys=True)
