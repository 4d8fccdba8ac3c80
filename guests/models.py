from __future__ import annotations

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MaxValueValidator
from django.db import models
from django.db.models import Q

from core import languages
from core.crypto import EncryptedValue
from properties.models import Listing, Organization
from reservations.models import Reservation, Turnover

from .placeholders import validate_message_size, validate_placeholders

# A message is a few paragraphs; the limit keeps a pasted document out of every email.
BODY_MAX_LENGTH = 10_000


def new_key() -> str:
    return secrets.token_urlsafe(24)


class GuestLink(models.Model):
    """A reservation's private guest page link. The link carries the reservation and this
    key, signed with the server's secret; regenerating the key revokes every link sent
    before (see guests.links)."""

    reservation = models.OneToOneField(
        Reservation, on_delete=models.CASCADE, related_name="guest_link"
    )
    key = models.CharField(max_length=64, default=new_key, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    regenerated_at = models.DateTimeField(null=True, blank=True, editable=False)

    def __str__(self) -> str:
        return f"Guest link of {self.reservation}"


# The earliest a scheduled message goes out: a month before check-in.
MAX_SEND_HOURS = 30 * 24


class MessageTemplate(models.Model):
    """What the guest is told, per organization, or per listing (a listing's template of
    a kind wins over its organization's). Subject and body hold `{placeholders}` (see
    guests.placeholders); an unknown one is refused when the template is saved."""

    class Kind(models.TextChoices):
        # The message with the door codes, sent at its scheduled instant or by staff.
        CODE = "code", "Door codes"
        # A short note once the guest was told and their times, codes or doors changed.
        CHANGED = "changed", "Times or codes changed"
        # The unit was marked ready early: the guest's code works from an earlier time.
        READY_EARLY = "ready_early", "Ready early"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="message_templates"
    )
    listing = models.ForeignKey(
        Listing,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="message_templates",
        help_text="Empty: every listing of the organization that has no template of its own.",
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CODE)
    # A stay is told in its language; without a template in it, in the organization's
    # default language (guests.content.template_for).
    language = models.CharField(
        max_length=languages.LANGUAGE_MAX_LENGTH,
        default=languages.default_language,
        validators=[languages.validate_language],
        help_text="The guests' language this template speaks.",
    )
    subject = models.CharField(max_length=200, validators=[validate_placeholders])
    body = models.TextField(
        validators=[MaxLengthValidator(BODY_MAX_LENGTH), validate_placeholders]
    )
    send_hours_before = models.PositiveIntegerField(
        "email it (hours before check-in)",
        null=True,
        blank=True,
        validators=[MaxValueValidator(MAX_SEND_HOURS)],
        help_text=(
            "Door codes only: Keystay emails the guest this many hours before check-in "
            "(a stay booked later gets it at once). Empty: sent only by hand."
        ),
    )
    active = models.BooleanField(
        default=True,
        help_text="Inactive: not used; the organization's template, or Keystay's, is.",
    )
    # One of the set a new organization starts with (guests.defaults); still editable.
    is_default = models.BooleanField(
        "ready-made",
        default=False,
        editable=False,
        help_text="Keystay's ready-made template, as the organization was given it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "message template"
        ordering = ["organization__name", "listing__name", "kind", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "kind", "language"],
                condition=Q(listing__isnull=True),
                name="message_template_one_per_organization_kind_language",
                violation_error_message=(
                    "The organization has a template of this kind in this language already."
                ),
            ),
            models.UniqueConstraint(
                fields=["listing", "kind", "language"],
                condition=Q(listing__isnull=False),
                name="message_template_one_per_listing_kind_language",
                violation_error_message=(
                    "This listing has a template of this kind in this language already."
                ),
            ),
        ]

    def __str__(self) -> str:
        where = self.listing.name if self.listing_id else "every listing"
        return f"{self.get_kind_display()} ({where}, {self.language})"

    def save(self, *args, **kwargs):
        if self.listing_id:
            self.organization_id = self.listing.organization_id
        super().save(*args, **kwargs)

    def clean(self) -> None:
        errors = {}
        if (
            self.listing_id
            and self.organization_id
            and self.listing.organization_id != self.organization_id
        ):
            errors["listing"] = "Pick a listing of the template's organization."
        if self.kind != self.Kind.CODE and self.send_hours_before is not None:
            errors["send_hours_before"] = (
                "Only the door-code message has a send time: the others go out when "
                "something happens."
            )
        if errors:
            raise ValidationError(errors)
        validate_message_size(self.subject, self.body)


class GuestMessage(models.Model):
    """One delivery to the guest: an email (scheduled, after a change, or sent by staff),
    a text or link staff copied to send another way, or the door codes handed to a PMS
    by webhook for it to tell the guest (recorded by hooks once the delivery's outcome is
    final: sent, or failed for good).

    Or one delivery to a turnover's assignee (`turnover` instead of `reservation`: exactly
    one is set): the crew task email with their doors, code and window (guests.crew), and
    a short note when those changed after they were told. The same due work, retries and
    records as a guest's.

    An email is due work: `due_at` is when it is next tried, a worker claims it with a
    compare-and-set on `claimed_until` (two workers never send it twice), and a failure is
    retried with backoff, then raised (`failed`), never dropped. Once delivered it keeps
    what the guest was told (`facts`, encrypted: it holds codes), so that a later change
    can be told once, and a change undone before it went out is told never.
    """

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        COPY_TEXT = "copy_text", "Text copied by staff"
        COPY_LINK = "copy_link", "Guest link copied by staff"
        WEBHOOK = "webhook", "Sent to a PMS by webhook"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Scheduled"
        CHANGE = "change", "After a change"
        STAFF = "staff", "By staff"
        # A stay event sent out by webhook (hooks), or resent.
        EVENT = "event", "On a stay event"
        # A turnover's code and window were set: its assignee is told (guests.crew).
        TURNOVER = "turnover", "Turnover planned"

    class State(models.TextChoices):
        PLANNED = "planned", "Planned"
        RETRYING = "retrying", "Failed, will retry"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        SKIPPED = "skipped", "Not sent"
        # Due, but the guest had no email address: planned again once they have one.
        NO_EMAIL = "no_email", "No guest email"

    # An email still to go out (a worker may claim it once due).
    PENDING_STATES = frozenset({State.PLANNED, State.RETRYING})

    # The crew task email: a message kind of its own (no template: guests.crew words it).
    CREW_TASK = "crew_task"
    KIND_CHOICES = [*MessageTemplate.Kind.choices, (CREW_TASK, "Crew task")]

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", editable=False
    )
    reservation = models.ForeignKey(
        Reservation,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="guest_messages",
    )
    # A message to a turnover's assignee (no reservation then).
    turnover = models.ForeignKey(
        Turnover, null=True, blank=True, on_delete=models.CASCADE, related_name="crew_messages"
    )
    kind = models.CharField(max_length=16, choices=KIND_CHOICES)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.EMAIL)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PLANNED)
    recipient = models.CharField(max_length=254, blank=True)
    due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=36, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # Why it was cancelled or not sent; for a webhook, the event it carried.
    note = models.CharField(max_length=300, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True, db_index=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who sent or copied it; empty: Keystay on its schedule.",
    )
    facts_ciphertext = models.TextField(blank=True, editable=False)
    # The record behind it in the app that made the delivery: a webhook delivery's id.
    reference = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "guest message"
        ordering = ["-created_at", "-pk"]
        constraints = [
            # One scheduled, and one change message, waiting per stay: a re-plan moves it.
            models.UniqueConstraint(
                fields=["reservation", "kind", "trigger"],
                condition=Q(state__in=["planned", "retrying"])
                & Q(trigger__in=["schedule", "change"]),
                name="guest_message_one_pending_per_stay",
            ),
            # One first notice, and one change note, waiting per turnover.
            models.UniqueConstraint(
                fields=["turnover", "kind", "trigger"],
                condition=Q(state__in=["planned", "retrying"])
                & Q(trigger__in=["turnover", "change"])
                & Q(turnover__isnull=False),
                name="crew_message_one_pending_per_turnover",
            ),
            models.CheckConstraint(
                condition=(Q(reservation__isnull=False) & Q(turnover__isnull=True))
                | (Q(reservation__isnull=True) & Q(turnover__isnull=False)),
                name="guest_message_for_a_stay_or_a_turnover",
                violation_error_message="A message belongs to a stay or to a turnover.",
            ),
        ]
        indexes = [
            models.Index(fields=["reservation", "-sent_at"], name="guest_message_told"),
            models.Index(fields=["turnover", "-sent_at"], name="crew_message_told"),
        ]

    def __str__(self) -> str:
        if self.turnover_id is not None:
            return f"{self.get_kind_display()} to {self.turnover.holder_name}"
        return f"{self.get_kind_display()} to {self.reservation.guest_name}"

    @property
    def is_crew(self) -> bool:
        return self.turnover_id is not None

    @property
    def zone(self):
        """The property's zone the message's times are read in."""
        holder = self.turnover if self.turnover_id is not None else self.reservation
        return holder.listing.property.zone

    # JSON of what the guest was told: check-in, check-out, each door and its code.
    facts = EncryptedValue("facts_ciphertext")
