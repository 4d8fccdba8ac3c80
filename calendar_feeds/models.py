"""Calendar feeds: a listing's iCal export on a channel (Airbnb, Vrbo, Booking.com…), and
what Keystay made of each of its events.

A feed's URL is a secret (anyone holding it reads the calendar): it is stored encrypted
and shown masked (its host and last characters) everywhere. Each event Keystay saw is a
`FeedEvent`, linked to the stay it became; `reservations` knows nothing of feeds.
"""

from __future__ import annotations

import datetime

from django.db import models
from django.db.models import Q

from core.crypto import EncryptedValue
from core.outbound import origin
from properties.models import Listing, Organization
from reservations.models import Reservation


def url_hint(url: str) -> str:
    """What pages, exports and emails show of a feed link: its host and last characters."""
    found = origin(url)
    host = found[1] if found else "?"
    return f"{host}/…{url[-4:]}"[:120]


class Channel(models.TextChoices):
    AIRBNB = "airbnb", "Airbnb"
    VRBO = "vrbo", "Vrbo"
    BOOKING = "booking", "Booking.com"
    OTHER = "other", "Other"


class EventsRule(models.TextChoices):
    """Which of a feed's events are stays (see `rules.classify`)."""

    CHANNEL = "channel", "As the channel exports them (Keystay's rule for the channel)"
    STAYS = "stays", "Every event that is not plainly a block is a stay"
    BOOKINGS_ONLY = "bookings_only", "Only events that are plainly bookings are stays"


class CalendarFeed(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", editable=False
    )
    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="calendar_feeds")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    url_ciphertext = models.TextField(editable=False)
    # What pages show of the URL: its host and last four characters.
    url_hint = models.CharField(max_length=120, editable=False)
    events_rule = models.CharField(
        "events are stays",
        max_length=16,
        choices=EventsRule.choices,
        default=EventsRule.CHANNEL,
        help_text=(
            "Booking.com exports bookings and closed dates alike as “CLOSED - Not "
            "available”: choose “only plain bookings” if this calendar's closed dates are "
            "not guests."
        ),
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # The last fetch, and what it made of the calendar.
    next_sync_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)
    # A sync in progress holds the feed until then (two workers never sync one feed).
    leased_until = models.DateTimeField(null=True, blank=True, editable=False)
    last_fetch_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_status = models.CharField(max_length=200, blank=True, editable=False)
    last_error = models.CharField(max_length=300, blank=True, editable=False)
    etag = models.CharField(max_length=300, blank=True, editable=False)
    last_modified = models.CharField(max_length=100, blank=True, editable=False)
    # PRODID and X-WR-CALNAME of the calendar last read whole: a missing event counts only
    # between two fetches of the same calendar.
    calendar_identity = models.CharField(max_length=300, blank=True, editable=False)
    created_count = models.PositiveIntegerField(default=0, editable=False)
    changed_count = models.PositiveIntegerField(default=0, editable=False)
    cancelled_count = models.PositiveIntegerField(default=0, editable=False)
    ignored_count = models.PositiveIntegerField(default=0, editable=False)
    # Failing: the last fetch cancelled nothing because the answer could not be trusted.
    failing = models.BooleanField(default=False, editable=False, db_index=True)
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    # The feed answered 404/410 since then (the host regenerated the link, or removed it).
    gone_since = models.DateTimeField(null=True, blank=True, editable=False)
    gone_alerted_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["listing__name", "channel", "pk"]
        indexes = [models.Index(fields=["organization", "failing"])]

    url = EncryptedValue("url_ciphertext")

    def __str__(self) -> str:
        return f"{self.get_channel_display()} calendar of {self.listing}"

    def save(self, *args, **kwargs):
        self.organization_id = self.listing.organization_id
        super().save(*args, **kwargs)

    def set_url(self, url: str) -> None:
        self.url = url
        self.url_hint = url_hint(url)

    @property
    def masked_url(self) -> str:
        return self.url_hint or "—"

    @property
    def health(self) -> str:
        if not self.active:
            return "paused"
        if self.gone_since is not None:
            return "gone"
        if self.failing:
            return "failing"
        if self.last_success_at is None:
            return "not yet read"
        return "ok"


class FeedEvent(models.Model):
    """One event of a feed, as last read, and the stay it became (if any).

    `applied_*` hold what the feed last wrote to the stay: a stay field that differs from
    them was changed by staff since, and the feed leaves it alone.
    """

    class Kind(models.TextChoices):
        STAY = "stay", "Stay"
        BLOCK = "block", "Blocked dates"
        DUPLICATE = "duplicate", "Another feed's or the API's booking"

    feed = models.ForeignKey(CalendarFeed, on_delete=models.CASCADE, related_name="events")
    uid = models.CharField(max_length=255)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    summary = models.CharField(max_length=200, blank=True)
    starts_on = models.DateField()
    ends_on = models.DateField()  # exclusive: the check-out day
    reservation = models.ForeignKey(
        Reservation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    # Whole fetches of the same calendar in a row that did not have it.
    misses = models.PositiveSmallIntegerField(default=0)
    applied_check_in = models.DateTimeField(null=True, blank=True)
    applied_check_out = models.DateTimeField(null=True, blank=True)
    applied_guest_name = models.CharField(max_length=200, blank=True)
    applied_guest_phone = models.CharField(max_length=32, blank=True)
    applied_status = models.CharField(max_length=16, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["feed", "uid"], name="feed_event_uid_unique"),
        ]
        indexes = [
            models.Index(
                fields=["reservation"],
                condition=Q(reservation__isnull=False),
                name="feed_event_reservation",
            )
        ]

    def __str__(self) -> str:
        return f"{self.summary or self.uid} ({self.starts_on} → {self.ends_on})"

    @property
    def nights(self) -> int:
        return (self.ends_on - self.starts_on) // datetime.timedelta(days=1)
