"""What a guest message says: the facts of a stay, the template that words them, the text.

The facts are what the guest needs and can act on: check-in, check-out, and each door
with the code that opens it (reservations.doors). A delivery keeps the facts it told
(encrypted), and "has anything changed since?" is a comparison of two such snapshots: a
change that was undone compares equal, and is never told.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from reservations.doors import GuestDoor, guest_doors
from reservations.models import Reservation

from .links import guest_url
from .models import MessageTemplate
from .placeholders import render_message

Kind = MessageTemplate.Kind


@dataclass(frozen=True)
class Facts:
    check_in: datetime.datetime
    check_out: datetime.datetime
    doors: tuple[tuple[str, str], ...]  # (door name, its code), by name

    def to_json(self) -> str:
        return json.dumps(
            {
                "check_in": self.check_in.isoformat(),
                "check_out": self.check_out.isoformat(),
                "doors": [list(door) for door in self.doors],
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Facts | None:
        if not text:
            return None
        data = json.loads(text)
        return cls(
            check_in=datetime.datetime.fromisoformat(data["check_in"]),
            check_out=datetime.datetime.fromisoformat(data["check_out"]),
            doors=tuple((name, code) for name, code in data["doors"]),
        )


def facts_of(reservation: Reservation, doors: list[GuestDoor] | None = None) -> Facts:
    doors = guest_doors(reservation) if doors is None else doors
    return Facts(
        check_in=reservation.check_in.astimezone(datetime.UTC),
        check_out=reservation.check_out.astimezone(datetime.UTC),
        doors=tuple((door.name, door.code) for door in doors),
    )


def local_text(value: datetime.datetime, zone) -> str:
    """'Monday 15 March 2027, 15:00 EDT (America/New_York)': the guest reads the time of
    the place they are going to, and sees which zone that is."""
    local = timezone.localtime(value, zone)
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} {local.tzname()} ({zone.key})"


def doors_text(doors: list[GuestDoor]) -> str:
    if not doors:
        return "(no door yet)"
    lines = []
    for door in doors:
        if not door.code:
            lines.append(
                f"- {door.name}: the lock sets its own code; it will be on your guest page."
            )
        elif door.own_code:
            lines.append(f"- {door.name}: {door.code} (this door has its own code)")
        else:
            lines.append(f"- {door.name}: {door.code}")
    return "\n".join(lines)


def changes_text(told: Facts | None, now: Facts, zone) -> str:
    """What differs between what the guest was told and what is true now, line by line."""
    if told is None:
        return ""
    lines = []
    if told.check_in != now.check_in:
        lines.append(
            f"- Check-in is now {local_text(now.check_in, zone)} "
            f"(was {local_text(told.check_in, zone)})."
        )
    if told.check_out != now.check_out:
        lines.append(
            f"- Check-out is now {local_text(now.check_out, zone)} "
            f"(was {local_text(told.check_out, zone)})."
        )
    before, after = dict(told.doors), dict(now.doors)
    for name, code in now.doors:
        if name not in before:
            lines.append(f"- New door: {name}" + (f", code {code}." if code else "."))
        elif before[name] != code and code:
            lines.append(f"- {name} has a new code: {code}.")
    for name, _ in told.doors:
        if name not in after:
            lines.append(f"- {name}: your code no longer opens it.")
    return "\n".join(lines)


# Keystay's wording when neither the listing nor the organization has a template.
DEFAULTS: dict[str, tuple[str, str]] = {
    Kind.CODE: (
        "Your door codes for {listing}",
        "Hello {guest_name},\n\n"
        "Your stay at {listing}, {property_address}:\n"
        "Check-in: {check_in}\n"
        "Check-out: {check_out}\n\n"
        "Your door codes:\n{doors}\n\n"
        "{check_in_instructions}\n\n"
        "Your private guest page, with your codes: {guest_link}\n",
    ),
    Kind.CHANGED: (
        "Your stay at {listing} has changed",
        "Hello {guest_name},\n\n"
        "Something about your stay at {listing} changed:\n{changes}\n\n"
        "Check-in: {check_in}\n"
        "Check-out: {check_out}\n\n"
        "Your door codes:\n{doors}\n\n"
        "Your private guest page: {guest_link}\n",
    ),
}


def template_for(reservation: Reservation, kind: str) -> MessageTemplate | None:
    """The listing's active template of this kind, else its organization's, else None."""
    candidates = MessageTemplate.objects.filter(
        Q(listing_id=reservation.listing_id) | Q(listing__isnull=True),
        organization_id=reservation.organization_id,
        kind=kind,
        active=True,
    )
    best = None
    for template in candidates:
        if template.listing_id is not None:
            return template
        best = template
    return best


@dataclass(frozen=True)
class Composed:
    subject: str
    body: str
    facts: Facts
    template: MessageTemplate | None


def values_for(
    reservation: Reservation,
    doors: list[GuestDoor],
    *,
    changes: str = "",
    request=None,
) -> dict[str, str]:
    listing = reservation.listing
    prop = listing.property
    zone = prop.zone
    return {
        "guest_name": reservation.guest_name,
        "organization": reservation.organization.name,
        "listing": listing.name,
        "property": prop.name,
        "property_address": " ".join(prop.address.split()) or prop.name,
        "check_in": local_text(reservation.check_in, zone),
        "check_out": local_text(reservation.check_out, zone),
        "doors": doors_text(doors),
        "guest_link": guest_url(reservation, request),
        "check_in_instructions": listing.check_in_instructions.strip(),
        "changes": changes,
    }


def compose(
    reservation: Reservation,
    kind: str,
    *,
    told: Facts | None = None,
    template: MessageTemplate | None = None,
    request=None,
) -> Composed:
    """The subject and body of a `kind` message for this stay, as it is now.

    `told`: what the guest was told last (for `{changes}`). `template`: a given template
    (the preview); else the one that applies, else Keystay's default.
    """
    template = template or template_for(reservation, kind)
    subject, body = (template.subject, template.body) if template else DEFAULTS[kind]
    doors = guest_doors(reservation)
    facts = facts_of(reservation, doors)
    changes = changes_text(told, facts, reservation.listing.property.zone)
    values = values_for(reservation, doors, changes=changes, request=request)
    subject_text, body_text = render_message(subject, body, values)
    return Composed(
        subject=subject_text,
        body=body_text,
        facts=facts,
        template=template,
    )
