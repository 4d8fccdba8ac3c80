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
from django.utils import translation
from django.utils.translation import gettext as _

from core.languages import default_language, language_codes, local_datetime
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
    # A standing access's working hours: (property, "08:00–17:00"), by property. Empty for
    # a stay or a turnover (then left out of the JSON: what they were told reads the same).
    hours: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> str:
        data = {
            "check_in": self.check_in.isoformat(),
            "check_out": self.check_out.isoformat(),
            "doors": [list(door) for door in self.doors],
        }
        if self.hours:
            data["hours"] = [list(rule) for rule in self.hours]
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Facts | None:
        if not text:
            return None
        data = json.loads(text)
        return cls(
            check_in=datetime.datetime.fromisoformat(data["check_in"]),
            check_out=datetime.datetime.fromisoformat(data["check_out"]),
            doors=tuple((name, code) for name, code in data["doors"]),
            hours=tuple((where, when) for where, when in data.get("hours", ())),
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
    the place they are going to, in their language, and sees which zone that is."""
    return f"{local_datetime(value, zone)} ({zone.key})"


def organization_language(reservation: Reservation) -> str:
    language = reservation.organization.default_language
    return language if language in language_codes() else default_language()


def language_of(reservation: Reservation, wanted: str = "") -> str:
    """The language a stay's guest reads: `wanted` (the guest page's switch), else the
    stay's own (from the API), else its listing's, else its organization's default."""
    for language in (wanted, reservation.language, reservation.listing.language):
        if language and language in language_codes():
            return language
    return organization_language(reservation)


def doors_text(doors: list[GuestDoor]) -> str:
    if not doors:
        return _("(no door yet)")
    lines = []
    for door in doors:
        if not door.code:
            lines.append(
                _("- %(door)s: the lock sets its own code; it will be on your guest page.")
                % {"door": door.name}
            )
        elif door.own_code:
            lines.append(
                _("- %(door)s: %(code)s (this door has its own code)")
                % {"door": door.name, "code": door.code}
            )
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
            _("- Check-in is now %(now)s (was %(was)s).")
            % {"now": local_text(now.check_in, zone), "was": local_text(told.check_in, zone)}
        )
    if told.check_out != now.check_out:
        lines.append(
            _("- Check-out is now %(now)s (was %(was)s).")
            % {"now": local_text(now.check_out, zone), "was": local_text(told.check_out, zone)}
        )
    before, after = dict(told.doors), dict(now.doors)
    for name, code in now.doors:
        if name not in before:
            if code:
                line = _("- New door: %(door)s, code %(code)s.")
                lines.append(line % {"door": name, "code": code})
            else:
                lines.append(_("- New door: %(door)s.") % {"door": name})
        elif before[name] != code and code:
            lines.append(_("- %(door)s has a new code: %(code)s.") % {"door": name, "code": code})
    for name, _code in told.doors:
        if name not in after:
            lines.append(_("- %(door)s: your code no longer opens it.") % {"door": name})
    return "\n".join(lines)


def default_wording(kind: str) -> tuple[str, str]:
    """Keystay's wording (subject, body) in the active language, when neither the listing
    nor the organization has a template. The placeholders stay as they are in every
    translation."""
    if kind == Kind.READY_EARLY:
        return (
            _("Your place at {listing} is ready early"),
            _(
                "Hello {guest_name},\n\n"
                "Good news: your place at {listing} is ready early. "
                "Your code works from {ready_from}.\n\n"
                "Your door codes:\n{doors}\n\n"
                "Your private guest page: {guest_link}\n"
            ),
        )
    if kind == Kind.CHANGED:
        return (
            _("Your stay at {listing} has changed"),
            _(
                "Hello {guest_name},\n\n"
                "Something about your stay at {listing} changed:\n{changes}\n\n"
                "Check-in: {check_in}\n"
                "Check-out: {check_out}\n\n"
                "Your door codes:\n{doors}\n\n"
                "Your private guest page: {guest_link}\n"
            ),
        )
    return (
        _("Your door codes for {listing}"),
        _(
            "Hello {guest_name},\n\n"
            "Your stay at {listing}, {property_address}:\n"
            "Check-in: {check_in}\n"
            "Check-out: {check_out}\n\n"
            "Your door codes:\n{doors}\n\n"
            "{check_in_instructions}\n\n"
            "Your private guest page, with your codes: {guest_link}\n"
        ),
    )


def template_for(
    reservation: Reservation, kind: str, language: str | None = None
) -> MessageTemplate | None:
    """The active template of this kind for the stay, in its language, else in its
    organization's default language: the listing's own before its organization's."""
    language = language or language_of(reservation)
    fallback = organization_language(reservation)
    candidates = MessageTemplate.objects.filter(
        Q(listing_id=reservation.listing_id) | Q(listing__isnull=True),
        organization_id=reservation.organization_id,
        kind=kind,
        active=True,
        language__in={language, fallback},
    )

    def rank(template: MessageTemplate) -> tuple[int, int]:
        return (template.language != language, template.listing_id is None)

    return min(candidates, key=rank, default=None)


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
        "ready_from": local_text(reservation.window[0], zone),
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
    # Told in the template's language (a fallback template's, when the stay's has none),
    # so that its dates and Keystay's own lines read the same as its words.
    language = template.language if template else language_of(reservation)
    with translation.override(language):
        subject, body = (template.subject, template.body) if template else default_wording(kind)
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
