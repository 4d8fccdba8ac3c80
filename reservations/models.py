"""Reservations: who stays at which listing, and when."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from properties.models import Listing, Organization


class Reservation(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CONFIRMED = "confirmed", "Confirmed"
        CANCELLED = "cancelled", "Cancelled"
        CHECKED_OUT = "checked_out", "Checked out"

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="reservations", editable=False
    )
    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="reservations")
    guest_name = models.CharField(max_length=200)
    guest_email = models.EmailField(blank=True)
    guest_phone = models.CharField(max_length=32, blank=True)
    # Aware instants. Forms and pages show them in the property's time zone.
    check_in = models.DateTimeField()
    check_out = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    source = models.CharField(
        max_length=50, blank=True, help_text="Where the booking came from: a PMS, a channel…"
    )
    external_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-check_in"]
        constraints = [
            models.CheckConstraint(
                condition=Q(check_out__gt=F("check_in")),
                name="reservation_check_out_after_check_in",
                violation_error_message="Check-out must be after check-in.",
            ),
            models.UniqueConstraint(
                fields=["listing", "external_id"],
                condition=~Q(external_id=""),
                name="reservation_external_id_unique_per_listing",
                violation_error_message=(
                    "This listing already has a reservation with this external id."
                ),
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "confirmed", "cancelled", "checked_out"]),
                name="reservation_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["listing", "check_in"]),
            models.Index(fields=["organization", "check_in"]),
        ]

    def __str__(self) -> str:
        return f"{self.guest_name} at {self.listing}"

    def save(self, *args, **kwargs):
        self.organization_id = self.listing.organization_id
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if self.check_in and self.check_out and self.check_out <= self.check_in:
            raise ValidationError({"check_out": "Check-out must be after check-in."})
