"""Which events of a channel's calendar are stays: one table, per channel.

Channels export bookings and blocked dates in the same calendar, told apart only by the
summary. Calendars synced between channels show each other's bookings as blocks (an
Airbnb booking appears in the Vrbo export as "Blocked"): a block never becomes a stay.
Some summaries are ambiguous — Booking.com writes "CLOSED - Not available" for its
bookings and for dates the host closed — and the channel's default decides them, unless the
feed's own rule says otherwise.
"""

from __future__ import annotations

import re
from enum import Enum

from .ical import FeedItem
from .models import Channel, EventsRule


class Reading(Enum):
    STAY = "stay"
    BLOCK = "block"
    AMBIGUOUS = "ambiguous"


# (pattern on the summary, what it means), first match wins; then the channel's default for
# anything else. Matched case-insensitively on the whole summary.
RULES: dict[str, list[tuple[re.Pattern[str], Reading]]] = {
    Channel.AIRBNB: [
        (re.compile(r"reserved"), Reading.STAY),
        (re.compile(r"airbnb \(not available\)|not available|blocked"), Reading.BLOCK),
    ],
    Channel.VRBO: [
        (re.compile(r"reserved( - .*)?"), Reading.STAY),
        (re.compile(r"blocked|unavailable|not available"), Reading.BLOCK),
    ],
    Channel.BOOKING: [
        (re.compile(r"closed - not available"), Reading.AMBIGUOUS),
        (re.compile(r"booked|reserved"), Reading.STAY),
    ],
    Channel.OTHER: [
        (re.compile(r"(reserved|booked|booking|reservation)\b.*"), Reading.STAY),
        (re.compile(r"blocked|unavailable|not available|closed.*|owner.*"), Reading.BLOCK),
    ],
}
# What an ambiguous or unknown summary is, per channel.
DEFAULTS: dict[str, Reading] = {
    Channel.AIRBNB: Reading.BLOCK,  # Airbnb writes "Reserved" for every booking
    Channel.VRBO: Reading.BLOCK,
    Channel.BOOKING: Reading.STAY,  # its export has no other way to show a booking
    Channel.OTHER: Reading.STAY,
}


def reading(channel: str, item: FeedItem) -> Reading:
    """What the channel's table says of the event's summary."""
    summary = item.summary.strip().lower()
    for pattern, meaning in RULES.get(channel, RULES[Channel.OTHER]):
        if pattern.fullmatch(summary):
            return meaning
    # A reservation link is a booking whatever the summary (older Airbnb exports named
    # the guest in the summary).
    if item.confirmation_code:
        return Reading.STAY
    return Reading.AMBIGUOUS


def is_stay(channel: str, rule: str, item: FeedItem) -> bool:
    """Whether the event becomes a stay, by the channel's table and the feed's rule."""
    meaning = reading(channel, item)
    if meaning is Reading.BLOCK:
        return False
    if meaning is Reading.STAY:
        return True
    if rule == EventsRule.STAYS:
        return True
    if rule == EventsRule.BOOKINGS_ONLY:
        return False
    return DEFAULTS.get(channel, Reading.STAY) is Reading.STAY
