"""The front desk's writes: the record of every code lookup, reveal and copy."""

from __future__ import annotations

import dataclasses
import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from core.crypto import code_digest
from core.ratelimit import Rate, hit
from guests.links import guest_url
from reservations.doors import GuestDoor, guest_doors, held_problem, stay_code
from reservations.models import Reservation
from reservations.services import code_mark_sent

from .models import CodeDisclosure, CodeLookup
from .selectors import CodeMatch, code_lookup_organizations, looks_like_code, stays_holding_code

logger = logging.getLogger(__name__)
Action = CodeDisclosure.Action


@dataclasses.dataclass
class CodeLookupResult:
    # The term had a code's shape and the person may look codes up: it was tried.
    tried: bool = False
    # Seconds to wait: the person looked up too many codes in the window.
    retry_after: int | None = None
    matches: list[CodeMatch] = dataclasses.field(default_factory=list)


def code_lookup(*, user, term: str, now=None) -> CodeLookupResult:
    """Which stays (and doors) hold exactly this code, in the person's own organizations.

    Not a way to enumerate codes: exact matches only (by keyed hash), members of the
    organization only, CODE_LOOKUP_RATE per person, and every attempt recorded in each
    organization searched (who, when, the code's keyed hash, what was found) — a refused
    one too. Nothing logs the code itself.
    """
    now = now or timezone.now()
    term = term.strip()
    organization_ids = code_lookup_organizations(user)
    if not looks_like_code(term) or not organization_ids:
        return CodeLookupResult()
    digest = code_digest(term)
    wait = hit("code-lookup", str(user.pk), Rate.parse(settings.CODE_LOOKUP_RATE))
    result = CodeLookupResult(tried=True, retry_after=wait)
    if wait is None:
        result.matches = stays_holding_code(organization_ids=organization_ids, digest=digest)
    records = []
    for organization_id in sorted(organization_ids):
        found = [
            match.record() for match in result.matches if match.organization_id == organization_id
        ]
        records.append(
            CodeLookup(
                organization_id=organization_id,
                user=user,
                at=now,
                code_digest=digest,
                refused=wait is not None,
                found_count=len(found),
                found=found,
            )
        )
    CodeLookup.objects.bulk_create(records)
    if wait is not None:
        logger.warning("Code lookups by user %s refused: over the limit", user.pk)
    return result


@dataclasses.dataclass
class Revealed:
    code: str
    doors: list[GuestDoor]


def code_reveal(*, reservation: Reservation, by, now=None) -> Revealed:
    """Show a stay's code and each door's to a member (recorded, with who). Revealing
    is not telling the guest: the code is not marked sent."""
    now = now or timezone.now()
    code = stay_code(reservation)
    if code is None:
        raise ValidationError("No code yet: it is generated when the reservation is confirmed.")
    if problem := held_problem(reservation):
        raise ValidationError(problem)  # held until the guest is verified: shown to nobody
    CodeDisclosure.objects.create(
        organization_id=reservation.organization_id,
        reservation=reservation,
        user=by,
        action=Action.REVEAL,
        at=now,
    )
    return Revealed(code.value, guest_doors(reservation, now))


def code_copied(*, reservation: Reservation, by, access_id: int | None = None, now=None) -> bool:
    """A member copied the code (the browser confirmed the copy): recorded, and the code
    marked sent to the guest when it opens a door now or soon (True then)."""
    now = now or timezone.now()
    if stay_code(reservation) is None:
        raise ValidationError("No code yet: it is generated when the reservation is confirmed.")
    if problem := held_problem(reservation):
        raise ValidationError(problem)
    door = None
    if access_id is not None:
        door = reservation.lock_accesses.filter(pk=access_id).first()
        if door is None:
            raise ValidationError("That door is not one of this stay's.")
    CodeDisclosure.objects.create(
        organization_id=reservation.organization_id,
        reservation=reservation,
        access=door,
        user=by,
        action=Action.COPY,
        at=now,
    )
    try:
        code_mark_sent(reservation=reservation, now=now)
    except ValidationError:
        return False  # a stay over or cancelled: copied for the record, nobody told
    return True


def link_show(*, reservation: Reservation, by, request=None, now=None) -> str:
    """The guest's private link, shown to a member to copy (recorded: the link shows
    the code). Marked sent only once copied (guests.services.message_copy_link)."""
    now = now or timezone.now()
    if stay_code(reservation) is None:
        raise ValidationError("No code yet: it is generated when the reservation is confirmed.")
    CodeDisclosure.objects.create(
        organization_id=reservation.organization_id,
        reservation=reservation,
        user=by,
        action=Action.LINK,
        at=now,
    )
    return guest_url(reservation, request)
