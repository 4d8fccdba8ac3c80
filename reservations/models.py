"""Reservations: who stays at which listing, and when."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import F, Q

from core.crypto import EncryptedValue
from properties.models import MAX_CODE_LEAD_MINUTES, Listing, Organization


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
    confirmed_at = models.DateTimeField(null=True, blank=True, editable=False)
    cancelled_at = models.DateTimeField(null=True, blank=True, editable=False)
    ended_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When staff ended the stay early."
    )
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
        if self.pk and self.listing_id:
            stored = Reservation.objects.filter(pk=self.pk).values_list(
                "organization_id", flat=True
            )
            if stored and stored[0] != self.listing.organization_id:
                raise ValidationError(
                    {"listing": "A reservation stays in its organization: pick its listing."}
                )


class ReservationCode(models.Model):
    """The one code of a reservation, shared by every guest-access lock of its listing.

    Stored encrypted; lists show it masked, the reservation page reveals it to members.
    """

    reservation = models.OneToOneField(Reservation, on_delete=models.CASCADE, related_name="code")
    code_ciphertext = models.TextField()
    generated_at = models.DateTimeField()
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When the code was shared with the guest."
    )
    rotated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Code of {self.reservation}"

    value = EncryptedValue("code_ciphertext")

    @property
    def masked(self) -> str:
        return "•" * 4


class LockAccess(models.Model):
    """One lock's part of a reservation: its window, its state, the provider's code id.

    `due_at` is the next instant Keystay must act on this row (program, update, remove,
    retry); the sweeper claims due rows with a compare-and-set on `claimed_until`.
    """

    class State(models.TextChoices):
        PLANNED = "planned", "Planned"
        PROGRAMMING = "programming", "Programming"
        ON_LOCK = "on_lock", "On lock"
        ACTIVE = "active", "Active"  # derived: on the lock and inside its window
        REMOVING = "removing", "Removing"
        REMOVED = "removed", "Removed"
        REVOKED = "revoked", "Revoked"
        FAILED = "failed", "Failed"

    class Reason(models.TextChoices):
        """Why a code must leave the lock, which decides removed vs revoked."""

        NONE = "", "—"
        WINDOW_ENDED = "window_ended", "Stay over"
        CANCELLED = "cancelled", "Reservation cancelled"
        ENDED_EARLY = "ended_early", "Stay ended early"
        UNASSIGNED = "unassigned", "Lock no longer used by the listing"
        NO_GUEST_ACCESS = "no_guest_access", "Guest access switched off"
        MOVED = "moved", "Reservation moved to another listing"

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="+", editable=False
    )
    reservation = models.ForeignKey(
        Reservation, on_delete=models.CASCADE, related_name="lock_accesses"
    )
    assignment = models.ForeignKey(
        "locks.LockAssignment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="lock_accesses",
    )
    device = models.ForeignKey(
        "locks.Device", on_delete=models.PROTECT, related_name="lock_accesses"
    )
    # The plan.
    wanted = models.BooleanField(default=True, help_text="Should the code be on this lock?")
    reason = models.CharField(max_length=32, choices=Reason.choices, blank=True, default="")
    code_ciphertext = models.TextField(blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    program_at = models.DateTimeField(help_text="When the code is put on the lock.")
    # What the provider holds.
    state = models.CharField(max_length=16, choices=State.choices, default=State.PLANNED)
    provider_id = models.CharField(
        "provider code id",
        max_length=100,
        blank=True,
        help_text="Seam's access_code_id, or acs_credential_id for an entrance.",
    )
    provider_user_id = models.CharField(max_length=100, blank=True)
    provider_code_ciphertext = models.TextField(blank=True)
    provider_starts_at = models.DateTimeField(null=True, blank=True)
    provider_ends_at = models.DateTimeField(null=True, blank=True)
    # Scheduling and failures.
    due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=36, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    programmed_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "lock access"
        verbose_name_plural = "lock accesses"
        ordering = ["reservation", "device__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["reservation", "device"], name="lock_access_one_per_reservation_device"
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="lock_access_window_positive"
            ),
        ]
        indexes = [models.Index(fields=["device", "ends_at"])]

    def __str__(self) -> str:
        return f"{self.device} for {self.reservation}"

    code = EncryptedValue("code_ciphertext")

    provider_code = EncryptedValue("provider_code_ciphertext")

    def current_state(self, now=None) -> str:
        """The state at `now`: a code on the lock inside its window is active."""
        from django.utils import timezone

        now = now or timezone.now()
        if self.state == self.State.ON_LOCK and self.starts_at <= now < self.ends_at:
            return self.State.ACTIVE
        return self.state

    def get_current_state_display(self) -> str:
        return self.State(self.current_state()).label


class AccessOverride(models.Model):
    """Staff's exception for one lock of one reservation: own code, lead time or window."""

    reservation = models.ForeignKey(
        Reservation, on_delete=models.CASCADE, related_name="overrides"
    )
    assignment = models.ForeignKey(
        "locks.LockAssignment", on_delete=models.CASCADE, related_name="overrides"
    )
    code_ciphertext = models.TextField(blank=True, editable=False)
    lead_time_minutes = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(MAX_CODE_LEAD_MINUTES)]
    )
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    # When re-planning last narrowed the window (a stay booked into it, a smaller bound on
    # the listing), and what it did: staff see why the lock no longer follows what they set.
    trimmed_at = models.DateTimeField(null=True, blank=True, editable=False)
    trim_note = models.CharField(max_length=300, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    organization_lookup = "reservation__organization"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["reservation", "assignment"],
                name="override_one_per_reservation_lock",
                violation_error_message="This lock already has an override for this stay.",
            ),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True)
                | Q(ends_at__isnull=True)
                | Q(ends_at__gt=F("starts_at")),
                name="override_window_positive",
                violation_error_message="The window must end after it starts.",
            ),
        ]

    def __str__(self) -> str:
        return f"Override on {self.assignment.device} for {self.reservation}"

    code = EncryptedValue("code_ciphertext")
