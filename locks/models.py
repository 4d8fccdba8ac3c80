"""Lock provider connections, the devices they bring, and which listing uses which door."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from properties.models import Listing, Organization


class LockProviderConnection(models.Model):
    """A Seam workspace of one organization."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="connections"
    )
    name = models.CharField(max_length=200)
    endpoint = models.URLField(
        blank=True,
        help_text="Leave empty for Seam's API; set it for a self-hosted or test server.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "lock provider connection"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="connection_name_unique_in_org"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Device(models.Model):
    """A PIN-code lock, or an access-control entrance, imported from a connection."""

    class Kind(models.TextChoices):
        LOCK = "lock", "PIN-code lock"
        ACS_ENTRANCE = "acs_entrance", "Access-control entrance"

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="devices", editable=False
    )
    connection = models.ForeignKey(
        LockProviderConnection, on_delete=models.PROTECT, related_name="devices"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.LOCK)
    # Seam's device_id for a lock, acs_entrance_id for an entrance.
    provider_device_id = models.CharField("provider id", max_length=100)
    provider_system_id = models.CharField("access-control system id", max_length=100, blank=True)
    name = models.CharField(max_length=200)
    manufacturer = models.CharField(max_length=100, blank=True)
    model = models.CharField(max_length=200, blank=True)
    online = models.BooleanField(default=True)
    battery_level = models.FloatField(
        null=True, blank=True, help_text="0–1, as the provider reports it."
    )
    # Code constraints as Seam reports them on the device.
    supported_code_lengths = models.JSONField(default=list, blank=True)
    code_constraints = models.JSONField(default=list, blank=True)
    max_active_codes = models.PositiveIntegerField(null=True, blank=True)
    supports_native_scheduling = models.BooleanField(default=True)
    can_specify_pin_code = models.BooleanField(default=True)
    removed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the device disappeared at the provider."
    )
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "provider_device_id"],
                name="device_provider_id_unique_in_connection",
            ),
            models.CheckConstraint(
                condition=Q(battery_level__isnull=True)
                | Q(battery_level__gte=0, battery_level__lte=1),
                name="device_battery_level_0_to_1",
            ),
        ]
        indexes = [models.Index(fields=["organization", "name"])]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self.organization_id = self.connection.organization_id
        super().save(*args, **kwargs)

    @property
    def battery_percent(self) -> int | None:
        return None if self.battery_level is None else round(self.battery_level * 100)


class LockAssignment(models.Model):
    """A device at a listing. One device may serve several listings (a shared gate)."""

    class Role(models.TextChoices):
        PRIMARY = "primary", "Primary"
        SECONDARY = "secondary", "Secondary"

    organization_lookup = "listing__organization"

    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="assignments")
    device = models.ForeignKey(Device, on_delete=models.PROTECT, related_name="assignments")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.SECONDARY)
    guest_access = models.BooleanField(
        default=True, help_text="Guests' codes are put on this lock."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "lock assignment"
        ordering = ["listing", "role", "device__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["listing"],
                condition=Q(role="primary"),
                name="assignment_one_primary_per_listing",
                violation_error_message="This listing already has a primary lock.",
            ),
            models.UniqueConstraint(
                fields=["listing", "device"],
                name="assignment_device_once_per_listing",
                violation_error_message="This device is already assigned to this listing.",
            ),
            models.CheckConstraint(
                condition=Q(role__in=["primary", "secondary"]), name="assignment_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.device} at {self.listing} ({self.get_role_display()})"

    def clean(self) -> None:
        if (
            self.listing_id
            and self.device_id
            and self.listing.organization_id != self.device.organization_id
        ):
            raise ValidationError(
                {"device": "This device belongs to another organization than the listing."}
            )
