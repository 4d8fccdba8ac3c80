"""Reservations: who stays at which listing, and when."""

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, NullIf
from django.db.models.lookups import LessThan
from django.utils import timezone

from core import languages
from core.crypto import CodeDigests, EncryptedValue
from core.search_text import guest_search_text
from core.timezones import format_instant
from core.validators import validate_single_line
from locks.models import Device, LockProviderConnection, UnmanagedCode
from properties.models import MAX_CODE_LEAD_MINUTES, CrewMember, Listing, Organization


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
    guest_name = models.CharField(max_length=200, validators=[validate_single_line])
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
    # The guest's language (their page and messages); empty: the listing's.
    language = models.CharField(
        max_length=languages.LANGUAGE_MAX_LENGTH,
        blank=True,
        validators=[languages.validate_language],
        help_text="The guest's language for their page and messages. Empty: the listing's.",
    )
    confirmed_at = models.DateTimeField(null=True, blank=True, editable=False)
    cancelled_at = models.DateTimeField(null=True, blank=True, editable=False)
    ended_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When staff ended the stay early."
    )
    # The guest's first unlock with their code, as the lock reported it (its instant, not
    # when Keystay heard of it: events arrive late and out of order, the earliest wins).
    arrived_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="The guest's first unlock with their code.",
    )
    # Guest verification (reservations.verification): whether this stay's code is held
    # until the guest is verified (its listing's rule when it was confirmed, or a
    # manager's hold), and when and by what it was verified.
    verification_required = models.BooleanField(
        default=False,
        editable=False,
        help_text="The code is held (on no lock, in no message) until the stay is verified.",
    )
    verified_at = models.DateTimeField(null=True, blank=True, editable=False)
    verified_by = models.CharField(
        max_length=200,
        blank=True,
        editable=False,
        help_text="What verified the guest: a verification service, a PMS, a member of staff.",
    )
    # When the manager was told the guest is still not verified (once per stay).
    verification_alerted_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The unit was marked ready early (a turnover done before check-in, where the listing
    # allows early check-in): the guest's code works from this instant on every door.
    early_access_from = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="The unit was ready early: the guest's code works from this instant.",
    )
    # Before the guest arrives: when the next pre-arrival check of the locks is due
    # (reservations.prearrival); null when none is left.
    prearrival_check_at = models.DateTimeField(
        null=True, blank=True, editable=False, db_index=True
    )
    # The guest's name, email, phone digits and the external id, folded (core.search_text):
    # what the search box compares, on an index that fits each database (migration 0017).
    search_text = models.TextField(blank=True, default="", editable=False)

    SEARCH_SOURCES = frozenset({"guest_name", "guest_email", "guest_phone", "external_id"})

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
            # A listing's stays that end after an instant, whether they are live and when
            # they begin, from the index alone: the dashboard's double bookings.
            models.Index(
                fields=["listing", "check_out", "check_in", "status", "ended_at"],
                name="reservation_listing_check_out",
            ),
            models.Index(fields=["organization", "check_in"]),
            # The changelist's "source" filter lists an organization's distinct sources.
            models.Index(fields=["organization", "source"]),
            # The dashboard's departures: stays leaving around today, at check-out or ended
            # by staff (the few ended stays only: a null is never looked up).
            models.Index(fields=["check_out"]),
            # An organization's stays not over, with the columns that say whether a stay
            # is live and where and when it is: read from the index alone (the dashboard's
            # stays with a code but no door, its double bookings). Led by the organization,
            # which SQLite prefers without statistics, then the range of check-outs.
            models.Index(
                fields=["organization", "check_out", "status", "ended_at", "listing", "check_in"],
                name="reservation_org_check_out",
            ),
            models.Index(
                fields=["ended_at"],
                condition=Q(ended_at__isnull=False),
                name="reservation_ended_at",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.guest_name} at {self.listing}"

    def save(self, *args, **kwargs):
        self.organization_id = self.listing.organization_id
        self.search_text = guest_search_text(
            name=self.guest_name,
            email=self.guest_email,
            phone=self.guest_phone,
            external_id=self.external_id,
        )
        fields = kwargs.get("update_fields")
        if fields is not None and self.SEARCH_SOURCES.intersection(fields):
            kwargs["update_fields"] = [*fields, "search_text"]
        super().save(*args, **kwargs)

    @property
    def window(self) -> tuple[datetime.datetime, datetime.datetime]:
        """When the guest's code should open the doors: check-in minus the listing's
        buffer to check-out plus its buffer, cut short when staff ended the stay early."""
        listing = self.listing
        starts = self.check_in - datetime.timedelta(minutes=listing.buffer_before_minutes)
        if self.early_access_from is not None:
            starts = min(starts, self.early_access_from)
        ends = self.check_out + datetime.timedelta(minutes=listing.buffer_after_minutes)
        if self.ended_at is not None:
            ends = min(ends, self.ended_at)
        return starts, ends

    # Where the stay's code is, in one word (the API's `code_state`).
    CODE_STATES = [
        ("none", "No code yet (the reservation is not confirmed)"),
        ("generated", "Generated; no lock takes it"),
        ("held", "Held until the guest is verified: on no lock, shown to nobody"),
        ("planned", "Waiting for its programming instant"),
        ("programming", "Being put on the locks"),
        ("requested", "Sent to every lock; not every lock has confirmed it yet"),
        ("confirmed", "Confirmed on every lock, before its window"),
        ("active", "On every lock and working now"),
        ("failed", "A lock failed; Keystay retries"),
        ("removing", "Being removed from the locks"),
        ("removed", "Removed after the stay"),
        ("revoked", "Revoked (cancelled, or taken off a lock)"),
    ]

    def code_state(self, now: datetime.datetime | None = None) -> str:
        """Where the stay's code is at `now`, from each lock's state (reads the prefetched
        `code` and `lock_accesses`)."""
        State = LockAccess.State
        final = LockAccess.FINAL_STATES
        if not hasattr(self, "code"):  # the reverse one-to-one raises when there is none
            return "none"
        accesses = list(self.lock_accesses.all())
        wanted = [a.current_state(now) for a in accesses if a.wanted]
        # Held, and no code still leaving a lock (that says "removing" below).
        leaving_now = any(a.state not in final for a in accesses if not a.wanted)
        if self.code_held and all(s == State.HELD for s in wanted) and not leaving_now:
            return "held"
        if wanted:
            if State.FAILED in wanted:
                return "failed"
            if all(s in final for s in wanted):
                return "revoked" if State.REVOKED in wanted else "removed"
            if State.REMOVING in wanted:
                return "removing"
            if all(s == State.ACTIVE for s in wanted):
                return "active"
            if all(s in (State.CONFIRMED, State.ACTIVE) for s in wanted):
                return "confirmed"
            if all(s in (State.REQUESTED, State.CONFIRMED, State.ACTIVE) for s in wanted):
                return "requested"
            if State.PROGRAMMING in wanted:
                return "programming"
            return "planned"
        leaving = [a.state for a in accesses]
        if not leaving:
            return "generated"
        if any(s not in final for s in leaving):
            return "removing"
        return "revoked" if State.REVOKED in leaving else "removed"

    @property
    def code_held(self) -> bool:
        """The guest must be verified and is not: the code is planned, on no lock and
        shown to nobody (reservations.verification)."""
        return self.verification_required and self.verified_at is None

    @property
    def is_live(self) -> bool:
        """Confirmed and not ended: its codes should be (or go) on the doors."""
        return self.status == self.Status.CONFIRMED and self.ended_at is None

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


def digest_field() -> models.CharField:
    """A code's keyed hash (core.crypto.code_digest), kept beside its ciphertext for the
    exact-code search: indexed, never shown."""
    return models.CharField(max_length=64, blank=True, default="", editable=False, db_index=True)


class ReservationCode(CodeDigests, models.Model):
    """The one code of a reservation, shared by every guest-access lock of its listing.

    Stored encrypted; lists show it masked, the reservation page reveals it to members.
    """

    reservation = models.OneToOneField(Reservation, on_delete=models.CASCADE, related_name="code")
    code_ciphertext = models.TextField()
    code_digest = digest_field()
    generated_at = models.DateTimeField()
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When the code was shared with the guest."
    )
    rotated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Code of {self.reservation}"

    value = EncryptedValue("code_ciphertext", "code_digest")

    @property
    def masked(self) -> str:
        return "•" * 4


# When a code waiting for its lock was due: its next try, else its programming instant.
# LockAccess.late compares it, and the dashboard sorts by it, on one index.
WAITING_SINCE = Coalesce("due_at", "program_at")


class Turnover(CodeDigests, models.Model):
    """The gap between one stay's check-out and the next check-in (or a set duration
    after a check-out with nothing next): a task for a crew member, with a code of its
    own valid only in that window (plus the listing's turnover buffer) on the listing's
    staff-access doors. Kept in step with the stays by reservations.turnovers."""

    class State(models.TextChoices):
        PLANNED = "planned", "Planned"
        STARTED = "started", "Started"  # the first unlock with its code
        DONE = "done", "Done — unit ready"
        CANCELLED = "cancelled", "Cancelled"

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="+", editable=False
    )
    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="turnovers")
    # The stay whose check-out it follows (one turnover per check-out), and the next one.
    after_stay = models.OneToOneField(
        Reservation, on_delete=models.CASCADE, related_name="turnover", editable=False
    )
    next_stay = models.ForeignKey(
        Reservation,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    # The turnover's own time: check-out to the next check-in (or the set duration).
    starts_at = models.DateTimeField(editable=False)
    ends_at = models.DateTimeField(editable=False)
    assignee = models.ForeignKey(
        CrewMember,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="turnovers",
        help_text="Who cleans. New turnovers go to the listing's default crew member.",
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.PLANNED)
    # Check-out and the next check-in at the same instant (or overlapping stays): no
    # time to clean, raised for the manager, and never given a code.
    impossible = models.BooleanField(default=False, editable=False)
    code_ciphertext = models.TextField(blank=True, editable=False)
    code_digest = digest_field()
    # The private task page's key (reservations.turnovers.task_token): a new key
    # revokes every link sent before.
    link_key = models.CharField(max_length=64, blank=True, editable=False)
    # When the assignee was emailed their doors, code and window; the deliveries (sent,
    # failing, retried) are guest messages of the turnover (guests.GuestMessage).
    notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    done_at = models.DateTimeField(null=True, blank=True, editable=False)
    done_by = models.CharField(max_length=200, blank=True, editable=False)
    # Where the next guest's code was made to start by the unit being ready early.
    early_check_in_from = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    organization_lookup = "organization"

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gte=F("starts_at")), name="turnover_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(state__in=["planned", "started", "done", "cancelled"]),
                name="turnover_state_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "starts_at"], name="turnover_org_start"),
            models.Index(fields=["listing", "starts_at"], name="turnover_listing_start"),
        ]

    def __str__(self) -> str:
        return f"Turnover of {self.listing} after {self.after_stay.guest_name}"

    code = EncryptedValue("code_ciphertext", "code_digest")

    @property
    def window(self) -> tuple[datetime.datetime, datetime.datetime]:
        """When the crew's code opens the staff doors: the turnover widened by the
        listing's turnover buffer."""
        buffer = self.listing.turnover_buffer
        return self.starts_at - buffer, self.ends_at + buffer

    @property
    def is_live(self) -> bool:
        """Its code should be (or go) on the doors."""
        return (
            self.state in (self.State.PLANNED, self.State.STARTED)
            and not self.impossible
            and self.listing.turnovers_enabled
        )

    @property
    def holder_name(self) -> str:
        """Who holds its code, as the feed and the lock's code name say it."""
        return self.assignee.title if self.assignee_id else "Turnover crew"


# A standing code without an end is planned up to this instant (a lock access always has
# an end): such a code is sent to the provider as "ongoing", without a window.
OPEN_END = datetime.datetime(2200, 1, 1, tzinfo=datetime.UTC)


class StandingAccess(CodeDigests, models.Model):
    """A crew member's standing code (a cleaner on a contract, the owner, a maintenance
    company): one code on chosen doors (the staff-access doors of a listing, and any door
    a manager picks) from `starts_at` until `ends_at`, or open-ended. Optional working
    hours per property (`StandingHours`): an unlock outside them raises an alert; the lock
    is not asked to enforce them. Planned by reservations.standing like a turnover."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="+", editable=False
    )
    crew_member = models.ForeignKey(
        CrewMember, on_delete=models.PROTECT, related_name="standing_accesses"
    )
    listing = models.ForeignKey(
        Listing,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Every staff-access door of this listing (they follow its doors).",
    )
    doors = models.ManyToManyField(
        Device,
        blank=True,
        related_name="+",
        help_text="Any other doors of the organization this person opens.",
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty: open-ended (programmed without an end)."
    )
    note = models.CharField(max_length=200, blank=True)
    code_ciphertext = models.TextField(blank=True, editable=False)
    code_digest = digest_field()
    # Ended by staff before its end (or by offboarding its crew member).
    ended_at = models.DateTimeField(null=True, blank=True, editable=False)
    ended_by = models.CharField(max_length=200, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    organization_lookup = "organization"

    class Meta:
        verbose_name = "standing access"
        verbose_name_plural = "standing accesses"
        ordering = ["crew_member__name", "starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=F("starts_at")),
                name="standing_access_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"Standing access of {self.crew_member}"

    code = EncryptedValue("code_ciphertext", "code_digest")

    @property
    def open_ended(self) -> bool:
        return self.ends_at is None

    @property
    def window(self) -> tuple[datetime.datetime, datetime.datetime]:
        """When the code opens its doors: an open-ended one until OPEN_END; one ended
        early, until then."""
        ends = self.ends_at or OPEN_END
        if self.ended_at is not None:
            ends = min(ends, max(self.ended_at, self.starts_at + datetime.timedelta(seconds=1)))
        return self.starts_at, ends

    @property
    def is_live(self) -> bool:
        """Its code should be (or go) on the doors."""
        return self.ended_at is None and self.crew_member.active

    @property
    def holder_name(self) -> str:
        """Who holds its code, as the feed and the lock's code name say it."""
        return self.crew_member.title


class StandingHours(models.Model):
    """When a standing code is expected at one property, on its wall clock, every day
    (a closing time before the opening time spans midnight). An unlock exactly at either
    boundary is inside."""

    standing = models.ForeignKey(StandingAccess, on_delete=models.CASCADE, related_name="hours")
    property = models.ForeignKey("properties.Property", on_delete=models.CASCADE, related_name="+")
    opens = models.TimeField()
    closes = models.TimeField()

    class Meta:
        verbose_name = "working hours"
        verbose_name_plural = "working hours"
        constraints = [
            models.UniqueConstraint(
                fields=["standing", "property"], name="standing_hours_one_per_property"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.opens:%H:%M}–{self.closes:%H:%M} at {self.property}"

    def contains(self, local: datetime.time) -> bool:
        if self.opens <= self.closes:
            return self.opens <= local <= self.closes
        return local >= self.opens or local <= self.closes


class LockAccess(CodeDigests, models.Model):
    """One lock's part of a reservation (or of a turnover: its holder is one or the
    other): its window, its state, the provider's code id.

    `due_at` is the next instant Keystay must act on this row (program, update, remove,
    retry); the sweeper claims due rows with a compare-and-set on `claimed_until`.
    """

    class State(models.TextChoices):
        PLANNED = "planned", "Planned"
        # Planned, but held back until the guest is verified: on no lock, never due.
        HELD = "held", "Held until the guest is verified"
        PROGRAMMING = "programming", "Sending to the provider"
        # The provider accepted the code; the lock has not reported it yet.
        REQUESTED = "requested", "Sent, not yet confirmed"
        # The provider reports the code set on the lock (its status, or its event).
        CONFIRMED = "confirmed", "Confirmed on the lock"
        ACTIVE = "active", "Active"  # derived: confirmed on the lock and inside its window
        REMOVING = "removing", "Removing"
        REMOVED = "removed", "Removed"
        REVOKED = "revoked", "Revoked"
        FAILED = "failed", "Failed"

    # The code is gone from the lock for good (the provider confirmed its removal).
    FINAL_STATES = frozenset({State.REMOVED, State.REVOKED})
    # Waiting to go on the lock (LockAccess.late).
    WAITING_STATES = [State.PLANNED, State.PROGRAMMING]
    # The provider holds the code for the stay.
    AT_PROVIDER_STATES = frozenset({State.REQUESTED, State.CONFIRMED})
    # A code may be on the lock (or about to be).
    LIVE_STATES = frozenset(
        {
            State.PLANNED,
            State.PROGRAMMING,
            State.REQUESTED,
            State.CONFIRMED,
            State.REMOVING,
            State.FAILED,
        }
    )

    class Reason(models.TextChoices):
        """Why a code must leave the lock, which decides removed vs revoked."""

        NONE = "", "—"
        WINDOW_ENDED = "window_ended", "Stay over"
        CANCELLED = "cancelled", "Reservation cancelled"
        ENDED_EARLY = "ended_early", "Stay ended early"
        UNASSIGNED = "unassigned", "Lock no longer used by the listing"
        NO_GUEST_ACCESS = "no_guest_access", "Guest access switched off"
        MOVED = "moved", "Reservation moved to another listing"
        VERIFICATION_REVOKED = "verification_revoked", "Held: guest not verified"
        NO_STAFF_ACCESS = "no_staff_access", "Staff access switched off"
        TURNOVER_DONE = "turnover_done", "Turnover done: unit ready"
        STANDING_ENDED = "standing_ended", "Standing access ended"
        OFFBOARDED = "offboarded", "Crew member offboarded"

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="+", editable=False
    )
    # The holder: a stay's code or a turnover's, never both (lock_access_one_holder).
    reservation = models.ForeignKey(
        Reservation,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="lock_accesses",
    )
    turnover = models.ForeignKey(
        Turnover,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="lock_accesses",
    )
    standing = models.ForeignKey(
        StandingAccess,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="lock_accesses",
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
    code_digest = digest_field()
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
    provider_code_digest = digest_field()
    provider_starts_at = models.DateTimeField(null=True, blank=True)
    provider_ends_at = models.DateTimeField(null=True, blank=True)
    # Scheduling and failures.
    due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=36, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # When the provider accepted the code, when the lock was reported to hold it, when
    # its removal was asked for and when the provider confirmed the code gone.
    programmed_at = models.DateTimeField("requested at", null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    removal_requested_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    # When a reconcile first found the code changed on the lock: Seam restores a managed
    # code changed in the lock's own app by itself, so Keystay waits a grace period.
    drift_seen_at = models.DateTimeField(null=True, blank=True)
    # A backup code pulled from the lock's pool when the code was not confirmed before
    # arrival: this stay's alone (never reused), valid for its window, shared by staff.
    backup_provider_id = models.CharField("backup code id", max_length=100, blank=True)
    backup_code_ciphertext = models.TextField(blank=True)
    backup_code_digest = digest_field()
    backup_starts_at = models.DateTimeField(null=True, blank=True)
    backup_ends_at = models.DateTimeField(null=True, blank=True)
    backup_pulled_at = models.DateTimeField(null=True, blank=True)
    backup_shared_at = models.DateTimeField(null=True, blank=True)
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
            models.UniqueConstraint(
                fields=["turnover", "device"], name="lock_access_one_per_turnover_device"
            ),
            models.UniqueConstraint(
                fields=["standing", "device"], name="lock_access_one_per_standing_device"
            ),
            models.CheckConstraint(
                condition=Q(
                    reservation__isnull=False, turnover__isnull=True, standing__isnull=True
                )
                | Q(reservation__isnull=True, turnover__isnull=False, standing__isnull=True)
                | Q(reservation__isnull=True, turnover__isnull=True, standing__isnull=False),
                name="lock_access_one_holder",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="lock_access_window_positive"
            ),
        ]
        indexes = [
            models.Index(fields=["device", "ends_at"]),
            # Locks with a stay on now or soon (readback._hot_device_ids): the windows that
            # have not ended, and whether they start soon, without reading each row.
            models.Index(fields=["ends_at", "program_at"]),
            # Failing (or unconfirmed) codes: the dashboard and the reservation list's
            # filter, among the few rows in that state rather than all of them; late codes
            # (LockAccess.late): the planned ones due before an instant.
            models.Index(fields=["state", "due_at"]),
            # Whether a stay has a door for its code (without_guest_door), from the index.
            models.Index(fields=["reservation", "wanted", "state"], name="lock_access_stay_door"),
            # Late codes (LockAccess.late, the dashboard's and the front desk's): the codes
            # waiting for their lock, by when they were due, on one range of the index per
            # state (an OR of due_at and program_at read every waiting code on PostgreSQL).
            # Its condition is a column, not a list of states: SQLite matches a partial
            # index's IN list to a query's only when written with the same literals.
            models.Index(
                "state",
                Coalesce("due_at", "program_at"),
                condition=Q(wanted=True),
                name="lock_access_waiting_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.device} for {self.reservation or self.turnover or self.standing}"

    @property
    def holder_key(self) -> tuple[str, int]:
        """("reservation", id), ("turnover", id) or ("standing", id): what a processing
        run is scoped by."""
        if self.turnover_id is not None:
            return ("turnover", self.turnover_id)
        if self.standing_id is not None:
            return ("standing", self.standing_id)
        return ("reservation", self.reservation_id)

    code = EncryptedValue("code_ciphertext", "code_digest")

    provider_code = EncryptedValue("provider_code_ciphertext", "provider_code_digest")

    backup_code = EncryptedValue("backup_code_ciphertext", "backup_code_digest")

    @property
    def door_name(self) -> str:
        """What guests and crew read for this door: the label its listing gave the lock,
        else the lock's own name. Select `assignment` with `device` when reading many."""
        label = self.assignment.label if self.assignment_id else ""
        return label or self.device.name

    @staticmethod
    def door_name_expression():
        """`door_name` in the database, to annotate or order many rows by."""
        return Coalesce(NullIf(F("assignment__label"), Value("")), F("device__name"))

    @property
    def door_code(self) -> str:
        """The code that opens this door for the guest: the one the lock holds, or will
        hold once the worker has put it on. A lock that picks its own codes holds the one
        it picked (empty until it has); any other gets the planned code (an override's or
        the stay's), which the worker keeps on it."""
        if not self.device.can_specify_pin_code:
            return self.provider_code
        return self.code or self.provider_code

    @staticmethod
    def unclaimed(now) -> Q:
        """Rows no worker holds at `now` (no lease, or a lease run out)."""
        return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)

    # The sweep runs every minute and a worker holds a row for at most five (its lease): a
    # code still not sent this long after its instant is late, the work stuck or not running.
    LATE_AFTER = datetime.timedelta(minutes=10)

    @classmethod
    def late(cls, now) -> Q:
        """Codes for the guest still waiting to go on their lock (planned, or being sent)
        more than LATE_AFTER past the instant they were due (their next try, else their
        programming instant), while their window still matters."""
        return Q(
            LessThan(WAITING_SINCE, now - cls.LATE_AFTER),
            wanted=True,
            state__in=cls.WAITING_STATES,
            ends_at__gt=now,
        )

    def current_state(self, now=None) -> str:
        """The state at `now`: a code confirmed on the lock inside its window is active."""
        now = now or timezone.now()
        if self.state == self.State.CONFIRMED and self.starts_at <= now < self.ends_at:
            return self.State.ACTIVE
        return self.state


class LockAccessLog(models.Model):
    """What happened to one lock's code, with its evidence: the history staff read on the
    reservation, and every provider id the code ever had (late unlock events still find
    their guest by it)."""

    class Kind(models.TextChoices):
        REQUESTED = "requested", "Sent to the provider"
        CONFIRMED = "confirmed", "Confirmed on the lock"
        FAILED = "failed", "Failed on the lock"
        DELAYED = "delayed", "Lock slow to take the code"
        REMOVAL_REQUESTED = "removal_requested", "Removal sent to the provider"
        REMOVED = "removed", "Removal confirmed"
        MISSING = "missing", "Found missing at the provider"
        CHANGED = "changed", "Found changed on the lock"
        RECREATED = "recreated", "Re-created"
        RESTORED = "restored", "Restored"
        ADOPTED = "adopted", "Found at the provider and adopted"
        STRAY_REMOVED = "stray_removed", "Left on the lock; removed"
        DUPLICATE = "duplicate", "Refused as a duplicate"
        RATE_LIMITED = "rate_limited", "Provider rate limit: backing off"
        NOT_CONFIRMED = "not_confirmed", "Not confirmed before arrival"
        BACKUP_PULLED = "backup_pulled", "Backup code pulled"
        BACKUP_SHARED = "backup_shared", "Backup code shared"

    class Source(models.TextChoices):
        WORKER = "worker", "Keystay"
        EVENT = "event", "Provider event"
        RECONCILE = "reconcile", "Reconcile"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", editable=False
    )
    access = models.ForeignKey(LockAccess, on_delete=models.CASCADE, related_name="logs")
    at = models.DateTimeField()
    kind = models.CharField(max_length=32, choices=Kind.choices)
    source = models.CharField(max_length=16, choices=Source.choices)
    provider_id = models.CharField("provider code id", max_length=100, blank=True)
    provider_event_id = models.CharField(max_length=100, blank=True)
    detail = models.CharField(max_length=300, blank=True)

    organization_lookup = "organization"

    class Meta:
        verbose_name = "lock access history entry"
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["access", "-at"], name="lock_access_log_access_time"),
            models.Index(fields=["provider_id"], name="lock_access_log_provider_id"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({format_instant(self.at)})"


class VerificationStep(models.Model):
    """One step of a stay's guest verification, as its history shows it: the code held,
    the guest verified (by what), the verification revoked, the manager alerted."""

    class Kind(models.TextChoices):
        HELD = "held", "Code held until the guest is verified"
        VERIFIED = "verified", "Guest verified"
        UNVERIFIED = "unverified", "Verification revoked"
        ALERTED = "alerted", "Still not verified before check-in: manager alerted"
        IGNORED = "ignored", "Verified after the stay: nothing to do"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", editable=False
    )
    reservation = models.ForeignKey(
        Reservation, on_delete=models.CASCADE, related_name="verification_steps"
    )
    at = models.DateTimeField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Who or what: a person's name (staff in the admin), an API key's label, a service.
    by = models.CharField(max_length=200, blank=True)
    detail = models.CharField(max_length=300, blank=True)

    organization_lookup = "organization"

    class Meta:
        verbose_name = "verification step"
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["reservation", "-at"], name="verification_step_stay")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({format_instant(self.at)})"


class AccessOverride(CodeDigests, models.Model):
    """Staff's exception for one lock of one reservation: own code, lead time or window."""

    reservation = models.ForeignKey(
        Reservation, on_delete=models.CASCADE, related_name="overrides"
    )
    assignment = models.ForeignKey(
        "locks.LockAssignment", on_delete=models.CASCADE, related_name="overrides"
    )
    code_ciphertext = models.TextField(blank=True, editable=False)
    code_digest = digest_field()
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

    code = EncryptedValue("code_ciphertext", "code_digest")


# ---------------------------------------------------------------- what locks report
# LockEvent and DeviceAlert were created by the `locks` app; their tables keep its names.


class LockEvent(models.Model):
    """Something a lock reported through Seam: stored once per Seam event id.

    An unlock by code is attributed to a person: the guest of the reservation whose code
    it was, or the name of an unmanaged code; `person_name` keeps that name even after
    the code is gone.
    """

    class Kind(models.TextChoices):
        UNLOCKED = "unlocked", "Unlocked"
        LOCKED = "locked", "Locked"
        ACCESS_DENIED = "access_denied", "Access denied"
        CODE_SET = "code_set", "Code set on lock"
        CODE_REMOVED = "code_removed", "Code removed from lock"
        CODE_FAILED = "code_failed", "Code failed"
        CODE_DELAYED = "code_delayed", "Lock slow to take or drop a code"
        CODE_CHANGED_OUTSIDE = "code_changed_outside", "Code changed in the lock's app"
        CODE_DELETED_OUTSIDE = "code_deleted_outside", "Code deleted in the lock's app"
        UNMANAGED_ADDED = "unmanaged_added", "Code added outside Keystay"
        UNMANAGED_REMOVED = "unmanaged_removed", "Code removed outside Keystay"
        OFFLINE = "offline", "Lock offline"
        ONLINE = "online", "Lock back online"
        LOW_BATTERY = "low_battery", "Battery low"
        BATTERY = "battery", "Battery level changed"

    class Method(models.TextChoices):
        NONE = "", "—"
        KEYPAD = "keypad", "Keypad"
        APP = "app", "App"
        MANUAL = "manual", "Manual"
        AUTOMATIC = "automatic", "Automatic"
        CARD = "card", "Card"
        UNKNOWN = "unknown", "Unknown"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", editable=False
    )
    connection = models.ForeignKey(
        LockProviderConnection, on_delete=models.CASCADE, related_name="events"
    )
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="events")
    provider_event_id = models.CharField("Seam event id", max_length=100)
    event_type = models.CharField("Seam event type", max_length=100)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    access_code_id = models.CharField(max_length=100, blank=True)
    method = models.CharField(max_length=16, choices=Method.choices, blank=True, default="")
    reservation = models.ForeignKey(
        Reservation,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="lock_events",
    )
    unmanaged_code = models.ForeignKey(
        UnmanagedCode, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    # A crew member's turnover code.
    turnover = models.ForeignKey(
        Turnover, null=True, blank=True, on_delete=models.SET_NULL, related_name="lock_events"
    )
    # A crew member's standing code.
    standing = models.ForeignKey(
        StandingAccess,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="lock_events",
    )
    person_name = models.CharField(max_length=200, blank=True)
    detail = models.CharField(max_length=300, blank=True)
    battery_level = models.FloatField(null=True, blank=True)
    # Seam's event as received, without any code digits.
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "locks_lockevent"
        verbose_name = "lock event"
        ordering = ["-occurred_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "provider_event_id"], name="lock_event_once_per_connection"
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "-occurred_at"], name="lock_event_org_time"),
            models.Index(fields=["device", "-occurred_at"], name="lock_event_device_time"),
            models.Index(fields=["reservation", "-occurred_at"], name="lock_event_stay_time"),
            models.Index(fields=["connection", "access_code_id"], name="lock_event_code"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.device} ({format_instant(self.occurred_at)})"

    @property
    def is_door_event(self) -> bool:
        return self.kind in {self.Kind.UNLOCKED, self.Kind.LOCKED, self.Kind.ACCESS_DENIED}

    @property
    def who(self) -> str:
        """The person, else how the door was worked (keypad, app, manual, unknown)."""
        if self.person_name:
            return self.person_name
        if not self.is_door_event:
            return ""
        if self.method == self.Method.KEYPAD and self.access_code_id:
            return "Keypad (unknown code)"
        return self.get_method_display() if self.method else "Unknown"


class DeviceAlert(models.Model):
    """A problem the dashboard raises: a work item staff acknowledge, kept once resolved.

    Most are about a lock (`device`); those about a listing and no lock (a calendar feed
    failing, a double booking) have `listing` instead: one list of alerts for managers.

    An alert whose cause goes away resolves itself and says how (`resolution`); one that
    is about a single event (an unlock while vacant) has no cause to go away: it is
    resolved when someone acknowledges it. Alerts are never deleted: they are the history.
    """

    class Kind(models.TextChoices):
        OFFLINE = "offline", "Lock offline"
        LOW_BATTERY = "low_battery", "Battery low"
        CODE_FAILED = "code_failed", "Code failed on lock"
        FEW_SLOTS = "few_slots", "Lock nearly out of code slots"
        VACANT_UNLOCK = "vacant_unlock", "Unlocked while vacant"
        # One per stay and lock while open (access_code_id: the code's provider id, or
        # Keystay's name for a code that never reached the provider).
        PREARRIVAL_FAILED = "prearrival_fail", "Code not confirmed before arrival"
        # About a listing (no device). Key (access_code_id): "feed-<id>" for a feed; for a
        # double booking, the two stays' ids "<lower>-<higher>".
        FEED_FAILING = "feed_failing", "Calendar feed failing"
        FEED_GONE = "feed_gone", "Calendar link no longer works"
        DOUBLE_BOOKING = "double_booking", "Double booking"
        NOT_VERIFIED = "not_verified", "Guest not verified before check-in"
        # A standing crew code used outside its working hours (key: Seam's event id).
        OUTSIDE_HOURS = "outside_hours", "Crew unlock outside working hours"

    # Kinds about one event: acknowledging one resolves it.
    EVENT_KINDS = frozenset({Kind.VACANT_UNLOCK, Kind.OUTSIDE_HOURS})

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", editable=False
    )
    device = models.ForeignKey(
        Device, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    # An alert about a listing and no lock (a calendar feed, a double booking).
    listing = models.ForeignKey(
        Listing, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # For a failed code: Seam's access_code_id, and the stay it belongs to when known. For
    # an unlock while vacant: Seam's event id, so that each unlock is its own alert.
    access_code_id = models.CharField(max_length=100, blank=True)
    reservation = models.ForeignKey(
        Reservation,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    event = models.ForeignKey(
        LockEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.CharField(max_length=300, blank=True)
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(
        max_length=300, blank=True, help_text="How it was resolved, e.g. “Lock back online.”"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Who acknowledged, as shown: a person's name or an API key's label (a key is no user),
    # kept when the person's account is gone.
    acknowledged_by_name = models.CharField(max_length=200, blank=True)

    class Meta:
        db_table = "locks_devicealert"
        verbose_name = "alert"
        verbose_name_plural = "alerts"
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["device", "kind", "access_code_id"],
                condition=Q(resolved_at__isnull=True),
                name="device_alert_one_open_per_problem",
            ),
            models.UniqueConstraint(
                fields=["listing", "kind", "access_code_id"],
                condition=Q(resolved_at__isnull=True, device__isnull=True),
                name="listing_alert_one_open_per_problem",
            ),
            models.CheckConstraint(
                condition=Q(device__isnull=False) | Q(listing__isnull=False),
                name="alert_about_a_lock_or_a_listing",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "resolved_at"], name="device_alert_org_open")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.device or self.listing}"

    @property
    def place(self):
        """What the alert is about: its lock, else its listing."""
        return self.device or self.listing

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def is_acknowledged(self) -> bool:
        return self.acknowledged_at is not None

    @property
    def state(self) -> str:
        if self.resolved_at is not None:
            return "resolved"
        return "acknowledged" if self.acknowledged_at is not None else "open"


class CodeClearance(models.Model):
    """One act that takes a crew member's codes off every door (offboarding: the person
    deactivated; or one standing access ended): its report lists each door's code and
    when the provider confirmed it gone (reservations.standing)."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", editable=False
    )
    crew_member = models.ForeignKey(
        CrewMember, on_delete=models.CASCADE, related_name="code_clearances"
    )
    # Set when one standing access ended; empty for an offboarding (every code).
    standing = models.ForeignKey(
        StandingAccess, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()
    by = models.CharField(max_length=200, blank=True)
    # What became of the person's future turnovers (offboarding).
    turnovers_note = models.TextField(blank=True)

    organization_lookup = "organization"

    class Meta:
        verbose_name = "code clearance"
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        what = "Offboarding" if self.standing_id is None else "Standing access ended"
        return f"{what}: {self.crew_member}"


class ClearedCode(models.Model):
    """One door's code in a clearance: the code as it was (its digest and a masked
    form), and the lock access whose removal (or replacement) clears it."""

    clearance = models.ForeignKey(CodeClearance, on_delete=models.CASCADE, related_name="codes")
    access = models.ForeignKey(LockAccess, on_delete=models.CASCADE, related_name="+")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="+")
    masked = models.CharField(max_length=20)
    code_digest = models.CharField(max_length=64, blank=True)
    # "standing" or "turnover".
    holder = models.CharField(max_length=16)
    # On no lock when cleared (never programmed): nothing to wait for at the provider.
    never_on_lock = models.BooleanField(default=False)

    class Meta:
        ordering = ["device__name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["clearance", "access"], name="cleared_code_once_per_clearance"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.masked} on {self.device}"
