"""Lock provider connections, the devices they bring, and which listing uses which door."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, FloatField, Q, Value
from django.db.models.functions import Cast

from core.crypto import CodeDigests, EncryptedValue
from properties.models import Listing, Organization

from . import endpoints
from .providers import KNOWN_PROVIDERS


class LockProviderConnection(models.Model):
    """A Seam workspace of one organization, reached with an API key stored encrypted."""

    class SyncState(models.TextChoices):
        NEVER = "never", "Never imported"
        QUEUED = "queued", "Import queued"
        RUNNING = "running", "Importing"
        OK = "ok", "Imported"
        FAILED = "failed", "Import failed"

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="connections"
    )
    name = models.CharField(max_length=200)
    endpoint = models.URLField(
        blank=True,
        help_text="Leave empty for Seam's API; set it for a self-hosted or test server.",
    )
    # Never rendered: only the last four characters are shown after entry.
    api_key_ciphertext = models.TextField(blank=True, editable=False)
    api_key_last4 = models.CharField(max_length=4, blank=True, editable=False)
    workspace_id = models.CharField(max_length=100, blank=True, editable=False)
    workspace_name = models.CharField(max_length=200, blank=True, editable=False)
    is_sandbox = models.BooleanField(default=False, editable=False)
    sync_state = models.CharField(
        max_length=16, choices=SyncState.choices, default=SyncState.NEVER, editable=False
    )
    sync_requested_at = models.DateTimeField(null=True, blank=True, editable=False)
    sync_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    sync_finished_at = models.DateTimeField(null=True, blank=True, editable=False)
    sync_total = models.PositiveIntegerField(default=0, editable=False)
    sync_done = models.PositiveIntegerField(default=0, editable=False)
    sync_summary = models.JSONField(default=dict, blank=True, editable=False)
    last_sync_error = models.TextField(blank=True, editable=False)
    # Seam's webhook for this connection: its id, and the Svix secret that signs each
    # delivery (stored encrypted, like the API key; never rendered).
    webhook_id = models.CharField(max_length=100, blank=True, editable=False)
    webhook_url = models.URLField(max_length=500, blank=True, editable=False)
    webhook_secret_ciphertext = models.TextField(blank=True, editable=False)
    webhook_set_up_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The reconcile lists Seam's events created after the newest one it has seen.
    events_cursor = models.DateTimeField(null=True, blank=True, editable=False)
    events_reconciled_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_event_error = models.TextField(blank=True, editable=False)
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

    api_key = EncryptedValue("api_key_ciphertext")
    webhook_secret = EncryptedValue("webhook_secret_ciphertext")

    def set_api_key(self, api_key: str) -> None:
        """Store a new key; only its last four characters are ever shown again."""
        self.api_key = api_key
        self.api_key_last4 = api_key[-4:]

    @property
    def masked_api_key(self) -> str:
        return f"••••{self.api_key_last4}" if self.api_key_last4 else "—"

    @property
    def has_webhook(self) -> bool:
        return bool(self.webhook_secret_ciphertext)


class ConnectedAccount(models.Model):
    """A provider account (August, Salto, 2N…) linked into the workspace via Connect Webview."""

    connection = models.ForeignKey(
        LockProviderConnection, on_delete=models.CASCADE, related_name="accounts"
    )
    provider_account_id = models.CharField(max_length=100)
    account_type = models.CharField(max_length=100, blank=True)
    display_name = models.CharField(max_length=200, blank=True)
    user_identifier = models.CharField(max_length=200, blank=True)
    errors = models.JSONField(default=list, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    organization_lookup = "connection__organization"

    class Meta:
        ordering = ["display_name", "provider_account_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "provider_account_id"],
                name="account_provider_id_unique_in_connection",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name or self.provider_account_id

    # Seam's account errors that only the account's owner signing in again can clear.
    RECONNECT_ERRORS = frozenset(
        {"account_reauthorization_requested", "account_disconnected", "invalid_credentials"}
    )

    @property
    def state(self) -> str:
        if self.removed_at:
            return "removed"
        if self.needs_reconnect:
            return "needs reconnecting"
        return "needs attention" if self.errors else "connected"

    @property
    def needs_reconnect(self) -> bool:
        return self.removed_at is None and any(
            (error or {}).get("error_code") in self.RECONNECT_ERRORS for error in self.errors
        )

    @property
    def provider(self) -> str:
        """The brand as people know it ("August"), from what Seam calls the account."""
        if self.display_name and self.display_name.lower() != "unknown":
            return self.display_name
        return KNOWN_PROVIDERS.get(self.account_type, self.account_type or "Provider")

    @property
    def provider_key(self) -> str:
        """Seam's name of the provider ("august"), to preselect it on a reconnect."""
        if self.account_type in KNOWN_PROVIDERS:
            return self.account_type
        by_name = {name.lower(): key for key, name in KNOWN_PROVIDERS.items()}
        return by_name.get(self.display_name.lower(), "")

    @property
    def label(self) -> str:
        """ "August · john@example.com": the provider and which of its accounts."""
        return f"{self.provider} · {self.user_identifier or self.provider_account_id}"


class ConnectWebview(models.Model):
    """A Seam Connect Webview a manager was sent to, to link provider accounts."""

    connection = models.ForeignKey(
        LockProviderConnection, on_delete=models.CASCADE, related_name="webviews"
    )
    provider_webview_id = models.CharField(max_length=100)
    url = models.URLField(max_length=1000)
    accepted_providers = models.JSONField(default=list)
    status = models.CharField(max_length=32, default="pending")
    provider_account_id = models.CharField(max_length=100, blank=True)
    created_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    organization_lookup = "connection__organization"

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Connect Webview {self.provider_webview_id} ({self.status})"


# Seam's device warnings that say another integration manages the lock.
OTHER_INTEGRATION_WARNINGS = frozenset({"third_party_integration_detected"})


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
    # The provider keeps a pool of spare codes on this lock, pulled when a code fails.
    supports_backup_access_code_pool = models.BooleanField(
        "supports backup codes", default=False, editable=False
    )
    # Keystay's choice, not the provider's: an import never changes it.
    use_backup_pool = models.BooleanField(
        "use backup codes",
        default=False,
        help_text=(
            "Guests' codes on this lock are created with the provider's backup-code pool, "
            "and a backup code is pulled when a guest's code is not confirmed before "
            "arrival. Cannot be undone at the provider: the pool stays enabled on the lock "
            "and keeps some of its code slots. Only for locks that support backup codes."
        ),
    )
    removed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the device disappeared at the provider."
    )
    # Seam's warnings on the device as of the last import ({"warning_code", "message"}),
    # e.g. third_party_integration_detected: another integration manages this lock.
    provider_warnings = models.JSONField(
        "provider warnings", default=list, blank=True, editable=False
    )
    last_synced_at = models.DateTimeField(null=True, blank=True)
    # Door truth: when Keystay last compared what it wants on this lock with what the
    # provider lists, and what went wrong then.
    reconciled_at = models.DateTimeField(null=True, blank=True, editable=False)
    reconcile_error = models.TextField(blank=True, editable=False)
    # Queued for a read-back by a pass (reservations.readback): until then no other pass
    # queues it again, so passes that overrun their minute do not pile up. Cleared when
    # the lock is read; it runs out by itself if the task is lost.
    reconcile_queued_until = models.DateTimeField(null=True, blank=True, editable=False)
    # The provider asked Keystay to slow down for this lock (429): no call before then.
    backoff_until = models.DateTimeField(null=True, blank=True, editable=False)
    # One worker at a time on a lock, whatever process it runs in (locks/pacing.py): the
    # worker holding the lease works the lock's due steps in order; it runs out at
    # `lease_until`, so a worker that died lets another take over.
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    lease_token = models.CharField(max_length=36, blank=True, editable=False)
    # When Keystay last wrote codes on this lock, per kind of write ("create", "update",
    # "delete": epoch seconds within the last minute), to stay under Seam's per-lock limits.
    recent_writes = models.JSONField(default=dict, blank=True, editable=False)
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

    # Written only by the worker's own single-row updates (locks/pacing.py): a form or an
    # import saving a device it read earlier must not hand a live lease to nobody, or bring
    # back one that ran out.
    WORKER_FIELDS = frozenset(
        {"lease_until", "lease_token", "recent_writes", "reconcile_queued_until"}
    )

    def save(self, *args, **kwargs):
        self.organization_id = self.connection.organization_id
        if self.pk is not None and not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                f.attname
                for f in self._meta.concrete_fields
                if not f.primary_key and f.name not in self.WORKER_FIELDS
            ]
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if self.use_backup_pool and not self.supports_backup_access_code_pool:
            raise ValidationError(
                {"use_backup_pool": "This lock does not support backup codes (its provider)."}
            )

    @property
    def battery_percent(self) -> int | None:
        return None if self.battery_level is None else round(self.battery_level * 100)

    @property
    def codes_unsupported(self) -> str:
        """Why guests' codes cannot go on this device, in a sentence; "" when they can
        (reads its connection). Only an entrance on the demo's fake Seam server, which has
        no access-control credentials: a real provider's refusal is a failure to show."""
        if self.kind == self.Kind.ACS_ENTRANCE and endpoints.is_demo_fake(
            self.connection.endpoint
        ):
            return endpoints.DEMO_ENTRANCE_CODES
        return ""

    @property
    def integration_warnings(self) -> list[dict[str, str]]:
        """Seam's warnings that another integration manages this lock (its codes may be
        that integration's, and it may change or remove Keystay's)."""
        return [
            w
            for w in self.provider_warnings or []
            if w.get("warning_code") in OTHER_INTEGRATION_WARNINGS
        ]

    @property
    def battery_is_low(self) -> bool:
        """Under its organization's threshold (reads the organization)."""
        level = self.battery_level
        return level is not None and level < self.organization.low_battery_percent / 100


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
    staff_access = models.BooleanField(
        default=False,
        help_text="Crew codes (cleaners, maintenance) are put on this lock.",
    )
    label = models.CharField(
        "door label",
        max_length=60,
        blank=True,
        help_text=(
            'What guests and crew read for this door ("Front gate"); the device\'s '
            "name when empty."
        ),
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

    @property
    def door_label(self) -> str:
        """The door's name for guests and crew: its label, else the device's name."""
        return self.label or self.device.name

    def clean(self) -> None:
        if (
            self.listing_id
            and self.device_id
            and self.listing.organization_id != self.device.organization_id
        ):
            raise ValidationError(
                {"device": "This device belongs to another organization than the listing."}
            )


def battery_low(prefix: str = "") -> Q:
    """Devices (through `prefix`) whose battery is under their organization's threshold
    (`Organization.low_battery_percent`)."""
    threshold = Cast(F(f"{prefix}organization__low_battery_percent"), FloatField()) / Value(
        100.0, output_field=FloatField()
    )
    return Q(**{f"{prefix}battery_level__lt": threshold})


class UnmanagedCode(CodeDigests, models.Model):
    """A code made outside Keystay (the lock's own app, a PMS) for cleaners, owners, vendors.

    Imported read-only: Keystay never changes or removes it at the provider. The row goes
    when the code is gone at the provider; the code generator treats its digits as taken
    on its lock for its window (an ongoing code, without a window, for all time).
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", editable=False
    )
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="unmanaged_codes")
    provider_id = models.CharField("provider code id", max_length=100)
    name = models.CharField(max_length=200, blank=True)
    # Encrypted like every code; empty when the provider does not report the digits.
    code_ciphertext = models.TextField(blank=True, editable=False)
    # Its keyed hash (core.crypto.code_digest): the exact-code search compares it.
    code_digest = models.CharField(
        max_length=64, blank=True, default="", editable=False, db_index=True
    )
    code_length = models.PositiveSmallIntegerField(default=0, editable=False)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=32, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    # A manager's word that the code is left over (an old PMS's, another integration's):
    # the only codes Keystay may remove without having made them (locks.leftovers).
    leftover_at = models.DateTimeField("marked leftover at", null=True, blank=True)
    leftover_by = models.ForeignKey(
        "auth.User",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="marked leftover by",
    )

    class Meta:
        verbose_name = "unmanaged code"
        ordering = ["device__name", "name", "provider_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["device", "provider_id"], name="unmanaged_code_provider_id_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name or 'Unnamed code'} on {self.device}"

    _code = EncryptedValue("code_ciphertext", "code_digest")

    @property
    def code(self) -> str:
        return self._code

    @code.setter
    def code(self, value: str) -> None:
        self._code = value
        self.code_length = len(value or "")  # lists show the masked length, never digits

    @property
    def masked(self) -> str:
        return "•" * self.code_length if self.code_length else "—"

    @property
    def is_ongoing(self) -> bool:
        return self.starts_at is None and self.ends_at is None

    @property
    def display_name(self) -> str:
        return self.name or "Unnamed code"

    @property
    def hint(self) -> str:
        """The code masked but for its last two digits, for a confirmation that must name
        it ("••••41"); fully masked when shorter than five digits or unknown."""
        if self.code_length < 5:
            return self.masked
        return "•" * (self.code_length - 2) + self.code[-2:]


class LeftoverRemoval(models.Model):
    """One leftover code a manager confirmed for removal, and what became of it.

    The record of the only way Keystay deletes a code it did not make: who asked, when,
    which code on which door, and the result. Worked as due work (locks.leftovers): a
    provider failure is retried with a growing delay and shown, never dropped; the code
    counts as removed only once a read of the lock's unmanaged codes no longer lists it.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Waiting to be sent"
        SENT = "sent", "Sent; waiting for the lock to confirm"
        REMOVED = "removed", "Removed (confirmed gone)"
        REFUSED = "refused", "Refused: Keystay holds this code"
        FAILED = "failed", "Failed: the provider refused"

    OPEN_STATES = frozenset({State.QUEUED, State.SENT})

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", editable=False
    )
    device = models.ForeignKey(Device, on_delete=models.PROTECT, related_name="+")
    unmanaged_code = models.ForeignKey(
        UnmanagedCode, null=True, blank=True, on_delete=models.SET_NULL, related_name="removals"
    )
    # What the code was, kept after its row goes with the code.
    provider_id = models.CharField("provider code id", max_length=100)
    code_name = models.CharField(max_length=200, blank=True)
    code_hint = models.CharField("code", max_length=20, blank=True)
    requested_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by_name = models.CharField(max_length=150, blank=True)
    requested_at = models.DateTimeField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    # Due work: the next instant the worker acts on this row, claimed with a
    # compare-and-set on claimed_until/claim_token.
    due_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    claim_token = models.CharField(max_length=36, blank=True, editable=False)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = "leftover code removal"
        ordering = ["-requested_at", "-pk"]
        indexes = [models.Index(fields=["state", "due_at"], name="leftover_removal_due")]
        constraints = [
            # One open removal per code: a second confirmation adds nothing.
            models.UniqueConstraint(
                fields=["device", "provider_id"],
                condition=Q(state__in=["queued", "sent"]),
                name="leftover_removal_one_open_per_code",
            ),
        ]

    def __str__(self) -> str:
        return f"Removal of {self.code_name or 'a code'} from {self.device}"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES
