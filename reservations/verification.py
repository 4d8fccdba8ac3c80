"""Guest verification: a stay's code held until the guest is verified.

A listing (or its property) may require a verified guest (ID and selfie, a signed
agreement, a deposit). A stay confirmed while its listing requires it is *held*
(`Reservation.code_held`): its code is generated and its digits kept from other stays,
but planning puts it on no lock (its lock accesses are `held`, never due) and nobody is
told it (`reservations.doors` lists no doors, so no message, webhook body, guest page,
copy or reveal carries it) until the stay is marked verified, through the API (a PMS or
a verification service) or by staff in the admin.

- Verified: the stay is re-planned; each lock's code goes on at once or at its lead
  time, and the guest's scheduled messages follow (one that fell due meanwhile goes out
  then). Verified after check-in: at once. After check-out: recorded, nothing done.
- Revoked before the stay begins: held again; a code already at the provider comes off.
- Some hours before check-in (VERIFICATION_ALERT_HOURS) a stay still held is raised on
  the dashboard (at its top once check-in has come) and the managers are emailed once.
- A manager may hold stays confirmed before verification was switched on (the admin's
  bulk action), and release a held stay by verifying it.

Every step is a `VerificationStep` (the stay's verification history) and a stay event
(`reservations.signals`: verification_held, verified, verification_revoked,
verification_overdue), which outgoing webhooks send.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from core.access import scope_queryset
from core.public_url import absolute_url

from . import signals
from .alerts import (
    listing_alert_open,
    listing_alerts_resolve,
    managers_email,
    verification_alert_key,
)
from .models import DeviceAlert, LockAccess, Reservation, VerificationStep
from .planning import reservation_replan
from .sections import Section, first_rows

Step = VerificationStep.Kind
Status = Reservation.Status

BY_LISTING = "the listing's rule"


def alert_lead() -> datetime.timedelta:
    """How long before check-in a stay still held raises an alert (a setting)."""
    return datetime.timedelta(hours=settings.VERIFICATION_ALERT_HOURS)


def _departure(reservation: Reservation) -> datetime.datetime:
    if reservation.ended_at is not None:
        return min(reservation.check_out, reservation.ended_at)
    return reservation.check_out


def _step(reservation: Reservation, kind: str, *, by: str, now, detail: str = "") -> None:
    VerificationStep.objects.create(
        organization_id=reservation.organization_id,
        reservation=reservation,
        at=now,
        kind=kind,
        by=by[:200],
        detail=detail[:300],
    )


def name_of(by) -> str:
    """Who did it, as the history shows it: a person's name, an API key's label, a text."""
    if by is None:
        return ""
    if isinstance(by, str):
        return by
    full_name = getattr(by, "get_full_name", lambda: "")()
    return full_name or getattr(by, "label", "") or str(by)


# ------------------------------------------------------------------- at confirmation


def hold_on_confirm(*, reservation: Reservation, previous_status: str | None) -> bool:
    """A stay becoming confirmed at a listing that requires verification is held, unless
    already verified (a PMS may verify before it confirms). Sets the field in memory;
    True when it did (the caller records it once the stay is saved: `held_recorded`)."""
    if reservation.status != Status.CONFIRMED or previous_status == Status.CONFIRMED:
        return False
    if reservation.verification_required or reservation.verified_at is not None:
        return False
    if not reservation.listing.verification_required:
        return False
    reservation.verification_required = True
    return True


def held_recorded(*, reservation: Reservation, by: str = BY_LISTING, now) -> None:
    _step(reservation, Step.HELD, by=by, now=now)
    signals.announce(signals.VERIFICATION_HELD, reservation_id=reservation.pk, at=now)


# ------------------------------------------------------------------ verify / revoke


@dataclass(frozen=True)
class Outcome:
    reservation: Reservation
    # What happened, in a sentence for staff or the API's caller.
    message: str
    changed: bool


def _locked(reservation: Reservation) -> Reservation:
    return (
        Reservation.objects.select_for_update()
        .select_related("listing__property")
        .get(pk=reservation.pk)
    )


@transaction.atomic
def reservation_verify(
    *,
    reservation: Reservation,
    by,
    source: str = "",
    verified_at: datetime.datetime | None = None,
    now=None,
) -> Outcome:
    """The guest is verified (by `source`, e.g. a verification service; `by` is who said
    so: a person or an API key). A held code is released: planned on every lock at once
    or at its lead time, and the guest's messages follow. After the stay, nothing."""
    now = now or timezone.now()
    reservation = _locked(reservation)
    who = name_of(by)
    if reservation.verified_at is not None:
        return Outcome(reservation, "Already verified.", False)
    if reservation.status in (Status.CANCELLED, Status.CHECKED_OUT) or now >= _departure(
        reservation
    ):
        _step(
            reservation,
            Step.IGNORED,
            by=who,
            now=now,
            detail=source or "The stay is over or cancelled: its code stays off the locks.",
        )
        return Outcome(reservation, "The stay is over or cancelled: nothing to release.", False)
    if verified_at is not None and verified_at > now:
        raise ValidationError({"verified_at": "A verification cannot be in the future."})
    was_held = reservation.code_held
    reservation.verified_at = verified_at or now
    reservation.verified_by = (source or who)[:200]
    reservation.save(update_fields=["verified_at", "verified_by", "updated_at"])
    _step(reservation, Step.VERIFIED, by=who, now=now, detail=source)
    listing_alerts_resolve(
        kinds=[DeviceAlert.Kind.NOT_VERIFIED],
        key=verification_alert_key(reservation.pk),
        at=now,
        resolution=f"Verified by {reservation.verified_by}.",
    )
    if was_held:
        reservation_replan(reservation=reservation, now=now)
    signals.announce(signals.VERIFIED, reservation_id=reservation.pk, at=now)
    if not was_held:
        return Outcome(reservation, "Verified (its code was not held).", True)
    return Outcome(reservation, "Verified: the code is released to the locks and the guest.", True)


@transaction.atomic
def reservation_unverify(*, reservation: Reservation, by, reason: str = "", now=None) -> Outcome:
    """Revoke a verification before the stay begins: the code is held again and comes off
    every lock it reached. Refused once the guest's check-in has come (end the stay or
    cancel it instead: a guest inside is never locked out by this)."""
    now = now or timezone.now()
    reservation = _locked(reservation)
    if reservation.status in (Status.CANCELLED, Status.CHECKED_OUT):
        raise ValidationError("This stay is cancelled or over: there is nothing to hold.")
    if now >= reservation.check_in:
        raise ValidationError(
            "The stay has begun: its verification can no longer be revoked. End the stay "
            "or cancel it to take the code off the locks."
        )
    if reservation.code_held:
        return Outcome(reservation, "Already held until the guest is verified.", False)
    reservation.verified_at = None
    reservation.verified_by = ""
    reservation.verification_required = True
    reservation.save(
        update_fields=["verified_at", "verified_by", "verification_required", "updated_at"]
    )
    _step(reservation, Step.UNVERIFIED, by=name_of(by), now=now, detail=reason)
    reservation_replan(reservation=reservation, now=now)
    signals.announce(signals.VERIFICATION_REVOKED, reservation_id=reservation.pk, at=now)
    return Outcome(
        reservation, "Held until the guest is verified: the code leaves the locks.", True
    )


# ------------------------------------------------------------ a manager's bulk hold


def hold_problem(reservation: Reservation, now) -> str | None:
    """Why a stay cannot be held now (None when it can)."""
    if not reservation.is_live:
        return "not a confirmed, coming stay"
    if reservation.code_held:
        return "already held"
    if reservation.verified_at is not None:
        return "already verified"
    if now >= reservation.check_in:
        return "the stay has begun"
    return None


def codes_at_provider(reservations) -> int:
    """How many of these stays have a code at the provider now (it comes off if held)."""
    return (
        LockAccess.objects.filter(reservation__in=[r.pk for r in reservations])
        .exclude(provider_id="", provider_user_id="")
        .exclude(state__in=LockAccess.FINAL_STATES)
        .values("reservation_id")
        .distinct()
        .count()
    )


def reservations_hold(*, reservations, by, now=None) -> list[Reservation]:
    """Hold stays until their guests are verified (those confirmed before verification
    was switched on keep their codes otherwise): their codes come off the locks they
    reached. Returns the stays held; the others are left as they are (`hold_problem`)."""
    now = now or timezone.now()
    held = []
    for reservation in reservations:
        with transaction.atomic():
            locked = _locked(reservation)
            if hold_problem(locked, now):
                continue
            locked.verification_required = True
            locked.save(update_fields=["verification_required", "updated_at"])
            held_recorded(reservation=locked, by=name_of(by), now=now)
            reservation_replan(reservation=locked, now=now)
            held.append(locked)
    return held


# ---------------------------------------------------------------- before check-in


def _awaiting(now) -> QuerySet[Reservation]:
    """Live stays still held whose alert time has come and whose stay is not over."""
    return Reservation.objects.filter(
        status=Status.CONFIRMED,
        ended_at__isnull=True,
        verification_required=True,
        verified_at__isnull=True,
        check_in__lte=now + alert_lead(),
        check_out__gt=now,
    )


def verification_alerts_run(*, now=None, limit: int = 200) -> int:
    """Raise each held stay whose alert time has come, once: a history step, a stay event,
    one email to the organization's managers. Returns how many were raised."""
    now = now or timezone.now()
    ids = list(
        _awaiting(now)
        .filter(verification_alerted_at__isnull=True)
        .order_by("check_in")
        .values_list("pk", flat=True)[:limit]
    )
    raised = 0
    for pk in ids:
        # Compare-and-set: two workers never raise (and email) the same stay twice.
        if not Reservation.objects.filter(pk=pk, verification_alerted_at__isnull=True).update(
            verification_alerted_at=now
        ):
            continue
        reservation = Reservation.objects.select_related("listing__property").get(pk=pk)
        hours = max(0, round((reservation.check_in - now).total_seconds() / 3600))
        _step(
            reservation,
            Step.ALERTED,
            by="Keystay",
            now=now,
            detail=f"{hours} h before check-in.",
        )
        signals.announce(signals.VERIFICATION_OVERDUE, reservation_id=pk, at=now)
        listing_alert_open(
            listing=reservation.listing,
            kind=DeviceAlert.Kind.NOT_VERIFIED,
            key=verification_alert_key(pk),
            at=now,
            reservation=reservation,
            message=(
                f"{reservation.guest_name} is not verified {hours} h before check-in: "
                "their code is held, on no lock."
            ),
        )
        raised += 1
        _email_managers(reservation, hours)
    return raised


def _email_managers(reservation: Reservation, hours: int) -> int:
    listing = reservation.listing
    zone = listing.property.zone
    check_in = timezone.localtime(reservation.check_in, zone).strftime("%A %Y-%m-%d %H:%M %Z")
    url = absolute_url(reverse("admin:reservations_reservation_change", args=[reservation.pk]))
    lines = [
        f"{reservation.guest_name} is not verified yet, {hours} h before check-in at "
        f"{listing}. Their door code is held: it is on no lock and they have not been told it.",
        "",
        f"Guest: {reservation.guest_name}",
        f"Listing: {listing} ({listing.property})",
        f"Check-in: {check_in}",
        "",
        "Once the guest is verified (through your PMS or verification service, or with "
        "the reservation page's “Mark verified” button), the code goes on the locks and "
        "the guest is told. Keystay will not email you again about this stay.",
        f"Reservation: {url}",
    ]
    return managers_email(
        organization_id=reservation.organization_id,
        subject=f"Guest not verified: {reservation.guest_name} ({listing})",
        lines=lines,
        about=f"the verification of reservation {reservation.pk}",
    )


def awaiting(now) -> Q:
    """Held stays whose alert time has come, not over: the dashboard's "Guests not
    verified" and the reservation list's `?verification=awaiting`."""
    return Q(pk__in=_awaiting(now).values("pk"))


def stays_awaiting_verification(*, user, now, url: str = "", what: str = "") -> Section:
    """The dashboard's held stays whose alert time has come (`awaiting`), nearest check-in
    first (those whose check-in has come, a guest at the door without a code, first of
    all): the first rows and how many there are."""
    section = first_rows(
        scope_queryset(_awaiting(now), user)
        .select_related("listing__property")
        .order_by("check_in", "pk"),
        url=url,
        what=what,
    )
    for stay in section.rows:
        stay.at_the_door = now >= stay.check_in
    return section
