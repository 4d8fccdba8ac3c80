"""Organizations, their members, properties and the rentable listings of each property."""

import builtins
import datetime
import zoneinfo

from axes.models import AccessAttempt
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from core import languages
from core.access import Role
from core.timezones import validate_time_zone

CODE_LENGTH_MIN = 4
CODE_LENGTH_MAX = 12  # Seam accepts 4–12 digit access codes.


# The caps of the free text a guest message may quote (guests.placeholders adds them up to
# bound a message): every name, an address, a listing's check-in instructions.
NAME_MAX_LENGTH = 200
ADDRESS_MAX_LENGTH = 500
CHECK_IN_INSTRUCTIONS_MAX_LENGTH = 5_000


class Organization(models.Model):
    """A hosting business. Every other object belongs to exactly one organization."""

    name = models.CharField(max_length=NAME_MAX_LENGTH, unique=True)
    low_battery_percent = models.PositiveSmallIntegerField(
        "low battery under (%)",
        default=20,
        validators=[MinValueValidator(1), MaxValueValidator(99)],
        help_text="A lock whose battery is under this level is flagged on the dashboard.",
    )
    require_two_factor_for_managers = models.BooleanField(
        "require two-factor sign-in of managers",
        default=False,
        help_text=(
            "Managers of this organization must confirm each sign-in with a code from an "
            "authenticator app (or a recovery code); one without it sets it up at the next "
            "sign-in."
        ),
    )
    default_language = models.CharField(
        max_length=languages.LANGUAGE_MAX_LENGTH,
        default=languages.default_language,
        blank=True,
        validators=[languages.validate_language],
        help_text=(
            "What guests read when their stay and listing name no language, and the "
            "language whose message templates stand in for a missing one. Empty: the "
            "site's language."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    organization_lookup = "pk"

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(low_battery_percent__gte=1, low_battery_percent__lte=99),
                name="organization_low_battery_percent_1_to_99",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    Role = Role

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.STAFF)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization__name", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user"], name="membership_one_per_user_and_org"
            ),
            models.CheckConstraint(
                condition=Q(role__in=["manager", "staff"]), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()}) at {self.organization}"


class Invitation(models.Model):
    """A manager's invitation for one email address to join an organization with a role.

    The link carries a random token; only its SHA-256 is stored, so the link cannot be
    read back from the database (the admin shows it once, and it is emailed). It works
    once, until `expires_at`, unless revoked, and only for an account with this email.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField()
    role = models.CharField(
        max_length=16, choices=Membership.Role.choices, default=Membership.Role.STAFF
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="invitations_sent",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(editable=False)
    accepted_at = models.DateTimeField(null=True, blank=True, editable=False)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="invitations_accepted",
        editable=False,
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # A new invitation to the same address revokes the open one: one link at a time.
            models.UniqueConstraint(
                "organization",
                Lower("email"),
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_email_and_org",
            ),
            models.CheckConstraint(
                condition=Q(role__in=["manager", "staff"]), name="invitation_role_valid"
            ),
            models.CheckConstraint(
                condition=Q(accepted_at__isnull=True) | Q(revoked_at__isnull=True),
                name="invitation_not_both_accepted_and_revoked",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.organization}"

    def status(self, now: datetime.datetime) -> "Invitation.Status":
        if self.accepted_at is not None:
            return self.Status.ACCEPTED
        if self.revoked_at is not None:
            return self.Status.REVOKED
        if now >= self.expires_at:
            return self.Status.EXPIRED
        return self.Status.PENDING


class Property(models.Model):
    """A building or address. Its time zone decides what a listing's "15:00" means."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="properties"
    )
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    # A text field for its multi-line form widget; capped because messages quote it.
    address = models.TextField(blank=True, max_length=ADDRESS_MAX_LENGTH)
    time_zone = models.CharField(
        max_length=64,
        validators=[validate_time_zone],
        help_text="IANA time zone, e.g. Europe/Lisbon. Check-in and check-out times are local.",
    )
    check_in_time = models.TimeField(default=datetime.time(15, 0))
    check_out_time = models.TimeField(default=datetime.time(11, 0))
    requires_verification = models.BooleanField(
        "guests must be verified",
        default=False,
        help_text=(
            "Hold each stay's code (on no lock, in no message) until the stay is marked "
            "verified, through the API or by staff. A listing may say otherwise."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "properties"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="property_name_unique_in_org"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class CodeStyle(models.TextChoices):
    RANDOM = "random", "Random"
    PHONE = "phone", "Last digits of the guest's phone"


# How long before the window a code is put on the lock, when the listing does not say, and
# the longest allowed anywhere (a listing, a lock's override, the import, the API).
DEFAULT_CODE_LEAD_MINUTES = 24 * 60
# Pre-arrival checks are at most a week before check-in: the code is on the lock by then
# only with a long lead time, and a check earlier than the code itself proves nothing.
PREARRIVAL_MAX_HOURS = 7 * 24
MAX_CODE_LEAD_MINUTES = 7 * 24 * 60
# How far a lock's override may open the door before, or keep it open after, its stay's
# window when the listing does not say; and the most a listing may allow.
DEFAULT_OVERRIDE_EXTENSION_MINUTES = 24 * 60
MAX_OVERRIDE_EXTENSION_MINUTES = 7 * 24 * 60
# A turnover after a check-out with no stay next lasts this long when the listing does not
# say otherwise.
DEFAULT_TURNOVER_MINUTES = 4 * 60


def parse_prearrival_hours(text: str) -> list[int]:
    """ "24, 2" -> [24, 2]: distinct whole hours, largest first. Raises ValidationError."""
    hours = set()
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        # isascii: "²" is a digit to isdigit() but not to int(); three digits at most,
        # so that int() never reads a number thousands of digits long.
        if (
            not (part.isascii() and part.isdigit() and len(part) <= 3)
            or not 1 <= int(part) <= PREARRIVAL_MAX_HOURS
        ):
            raise ValidationError(
                f"Use whole hours from 1 to {PREARRIVAL_MAX_HOURS}, separated by commas "
                f"(e.g. 24,2); {part!r} is not one."
            )
        hours.add(int(part))
    return sorted(hours, reverse=True)


def validate_prearrival_hours(text: str) -> None:
    parse_prearrival_hours(text)


class Listing(models.Model):
    """A rentable unit of a property, known to the PMS by its external id.

    `organization` repeats the property's organization so that the database itself can
    keep external ids unique within an organization and scoping needs no join.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="listings", editable=False
    )
    property = models.ForeignKey(Property, on_delete=models.PROTECT, related_name="listings")
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    external_id = models.CharField(
        max_length=100, blank=True, help_text="The listing's id in your PMS or channel manager."
    )
    check_in_time = models.TimeField(
        null=True, blank=True, help_text="Leave empty to use the property's check-in time."
    )
    check_out_time = models.TimeField(
        null=True, blank=True, help_text="Leave empty to use the property's check-out time."
    )
    code_lead_time_minutes = models.PositiveIntegerField(
        "code lead time (minutes)",
        null=True,
        blank=True,
        validators=[MaxValueValidator(MAX_CODE_LEAD_MINUTES)],
        help_text="How long before the stay the code is put on the lock. Empty: the default.",
    )
    code_length = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(CODE_LENGTH_MIN), MaxValueValidator(CODE_LENGTH_MAX)],
        help_text="Digits in guest codes (4–12). Empty: what the locks accept, 6 by preference.",
    )
    buffer_before_minutes = models.PositiveIntegerField(
        "window opens (minutes before check-in)",
        default=0,
        validators=[MaxValueValidator(24 * 60)],
        help_text="The guest's code starts working this long before check-in.",
    )
    buffer_after_minutes = models.PositiveIntegerField(
        "window closes (minutes after check-out)",
        default=0,
        validators=[MaxValueValidator(24 * 60)],
        help_text="The guest's code keeps working this long after check-out.",
    )
    override_max_extension_minutes = models.PositiveIntegerField(
        "overrides may extend the window by (minutes)",
        null=True,
        blank=True,
        validators=[MaxValueValidator(MAX_OVERRIDE_EXTENSION_MINUTES)],
        help_text=(
            "How far a lock's override may open the window before the stay's, or keep it "
            "after. Empty: 24 hours. Never into another stay on that lock."
        ),
    )
    code_style = models.CharField(
        max_length=16,
        choices=CodeStyle.choices,
        default=CodeStyle.RANDOM,
        help_text="Phone: the last digits of the guest's phone when they are valid and free.",
    )
    prearrival_check_hours = models.CharField(
        "pre-arrival checks (hours before check-in)",
        max_length=60,
        blank=True,
        validators=[validate_prearrival_hours],
        help_text=(
            "When Keystay checks that every lock confirmed the guest's code, as whole hours "
            "before check-in separated by commas, e.g. 24,2. Empty: the default."
        ),
    )
    # Told to the guest in their messages and on their page, beside the door codes.
    check_in_instructions = models.TextField(
        blank=True,
        max_length=CHECK_IN_INSTRUCTIONS_MAX_LENGTH,
        help_text=(
            "How to get in: parking, which door first, where the key box is. Shown to the "
            "guest in messages ({check_in_instructions}) and on their guest page."
        ),
    )
    language = models.CharField(
        "guests' language",
        max_length=languages.LANGUAGE_MAX_LENGTH,
        blank=True,
        validators=[languages.validate_language],
        help_text=(
            "The language of the guest page and messages of stays that name none. "
            "Empty: the organization's."
        ),
    )
    # Empty: the property's rule. Read once, when a stay is confirmed (see
    # `verification_required`): switching it on holds the stays confirmed after that.
    requires_verification = models.BooleanField(
        "guests must be verified",
        null=True,
        blank=True,
        choices=[(None, "As the property"), (True, "Required"), (False, "Not required")],
        help_text=(
            "Hold each newly confirmed stay's code until the stay is marked verified. "
            "Empty: the property's rule."
        ),
    )
    # Turnovers (reservations.turnovers): the gap between one stay's check-out and the
    # next check-in, a task for a crew member with a code of its own on staff doors.
    turnovers_enabled = models.BooleanField(
        "turnovers",
        default=False,
        help_text="Each gap between stays is a turnover with its own code on staff doors.",
    )
    default_crew_member = models.ForeignKey(
        "CrewMember",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who gets each new turnover. Empty: assigned by hand.",
    )
    turnover_minutes = models.PositiveIntegerField(
        "turnover after a last stay (minutes)",
        null=True,
        blank=True,
        validators=[MinValueValidator(15), MaxValueValidator(24 * 60)],
        help_text=(
            "How long the turnover after a check-out with no stay next lasts. Empty: 4 hours."
        ),
    )
    turnover_buffer_minutes = models.PositiveIntegerField(
        "turnover code buffer (minutes)",
        null=True,
        blank=True,
        validators=[MaxValueValidator(4 * 60)],
        help_text=(
            "The crew's code opens this long before check-out and closes this long "
            "after the turnover ends. Empty: none."
        ),
    )
    early_check_in_max_minutes = models.PositiveIntegerField(
        "early check-in (at most, minutes)",
        null=True,
        blank=True,
        validators=[MaxValueValidator(24 * 60)],
        help_text=(
            "When the unit is marked ready, the next guest's code may start up to this "
            "long before check-in. Empty or 0: never early."
        ),
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["property__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                condition=~Q(external_id=""),
                name="listing_external_id_unique_in_org",
                violation_error_message=(
                    "Another listing of this organization has this external id."
                ),
            ),
            models.CheckConstraint(
                condition=Q(code_length__isnull=True)
                | Q(code_length__gte=CODE_LENGTH_MIN, code_length__lte=CODE_LENGTH_MAX),
                name="listing_code_length_4_to_12",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        # Keep the denormalized organization in step with the property.
        self.organization_id = self.property.organization_id
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if self.pk and self.property_id:
            stored = Listing.objects.filter(pk=self.pk).values_list("organization_id", flat=True)
            if stored and stored[0] != self.property.organization_id:
                raise ValidationError(
                    {"property": "A listing stays in its organization: pick a property of it."}
                )
        if (
            self.default_crew_member_id
            and self.property_id
            and self.default_crew_member.organization_id != self.property.organization_id
        ):
            raise ValidationError(
                {"default_crew_member": "Pick a crew member of the listing's organization."}
            )

    def validate_constraints(self, exclude=None):
        # The form excludes `organization` (not editable): fill it before the unique check.
        if self.property_id:
            self.organization_id = self.property.organization_id
        super().validate_constraints(
            exclude=None if exclude is None else set(exclude) - {"organization"}
        )

    # `property` is a field of this model: the builtin is reached through `builtins`.
    @builtins.property
    def effective_check_in_time(self) -> datetime.time:
        return self.check_in_time or self.property.check_in_time

    @builtins.property
    def effective_check_out_time(self) -> datetime.time:
        return self.check_out_time or self.property.check_out_time

    @builtins.property
    def lead_time(self) -> datetime.timedelta:
        minutes = self.code_lead_time_minutes
        return datetime.timedelta(
            minutes=DEFAULT_CODE_LEAD_MINUTES if minutes is None else minutes
        )

    @builtins.property
    def override_max_extension(self) -> datetime.timedelta:
        minutes = self.override_max_extension_minutes
        return datetime.timedelta(
            minutes=DEFAULT_OVERRIDE_EXTENSION_MINUTES if minutes is None else minutes
        )

    @builtins.property
    def verification_required(self) -> bool:
        """Whether a stay confirmed now must be verified before its code is released:
        the listing's own rule, else its property's."""
        if self.requires_verification is not None:
            return self.requires_verification
        return self.property.requires_verification

    @builtins.property
    def turnover_duration(self) -> datetime.timedelta:
        """How long a turnover with no stay next lasts."""
        minutes = self.turnover_minutes
        return datetime.timedelta(minutes=DEFAULT_TURNOVER_MINUTES if minutes is None else minutes)

    @builtins.property
    def turnover_buffer(self) -> datetime.timedelta:
        return datetime.timedelta(minutes=self.turnover_buffer_minutes or 0)

    @builtins.property
    def early_check_in_max(self) -> datetime.timedelta:
        """How far before check-in a unit ready early may start the guest's code."""
        return datetime.timedelta(minutes=self.early_check_in_max_minutes or 0)

    @builtins.property
    def prearrival_hours(self) -> list[int]:
        """The pre-arrival checks' hours before check-in, largest first."""
        return parse_prearrival_hours(
            self.prearrival_check_hours or settings.PREARRIVAL_CHECK_HOURS
        )

    def local_check_in(self, day: datetime.date) -> datetime.datetime:
        """The check-in instant of a local date: 15:00 means 15:00 there, whatever the DST."""
        return datetime.datetime.combine(day, self.effective_check_in_time, self.property.zone)

    def local_check_out(self, day: datetime.date) -> datetime.datetime:
        return datetime.datetime.combine(day, self.effective_check_out_time, self.property.zone)


class CrewMember(models.Model):
    """Someone of the organization who opens doors but is not a guest: a cleaner, a
    maintenance person, the owner, a vendor. Gets a code per turnover on staff doors."""

    class Kind(models.TextChoices):
        CLEANER = "cleaner", "Cleaner"
        MAINTENANCE = "maintenance", "Maintenance"
        OWNER = "owner", "Owner"
        VENDOR = "vendor", "Vendor"
        OTHER = "other", "Other"

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="crew_members"
    )
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=32, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CLEANER)
    # One of the guests' languages (core.languages): their task page and email.
    language = models.CharField(
        max_length=languages.LANGUAGE_MAX_LENGTH,
        blank=True,
        validators=[languages.validate_language],
        help_text="The language of their task page and emails. Empty: the organization's.",
    )
    active = models.BooleanField(default=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="crew_members",
        help_text="The Keystay account of this person, if they have one.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    organization_lookup = "organization"

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["cleaner", "maintenance", "owner", "vendor", "other"]),
                name="crew_member_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @builtins.property
    def title(self) -> str:
        """As the activity feed names them: "Cleaner Rosa"."""
        return f"{self.get_kind_display()} {self.name}"


class FailedSignIn(AccessAttempt):
    """Failed sign-ins as django-axes counts them (one row per account and client), shown
    to the managers of the account's organizations, who may lift a lock-out."""

    class Meta:
        proxy = True
        verbose_name = "failed sign-in"
        verbose_name_plural = "failed sign-ins"
