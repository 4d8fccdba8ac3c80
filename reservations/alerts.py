"""Alerts as work items: staff acknowledge them; they stay in the history once resolved."""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from core.timezones import format_instant
from properties.selectors import manager_emails

from .models import DeviceAlert, Reservation
from .selectors import overlapping_stays

Kind = DeviceAlert.Kind

logger = logging.getLogger(__name__)


def managers_email(*, organization_id: int, subject: str, lines: list[str], about: str) -> int:
    """Email an alert to the organization's managers (none: nothing sent). A mail server
    down must not undo the alert, which the dashboard shows: logged, 0 returned."""
    recipients = manager_emails(organization_id=organization_id)
    if not recipients:
        return 0
    try:
        return send_mail(
            subject=subject,
            message="\n".join(lines),
            from_email=None,
            recipient_list=recipients,
        )
    except Exception:
        logger.exception("Email about %s not sent", about)
        return 0


def alert_open(
    *,
    device=None,
    listing=None,
    kind: str,
    at,
    event=None,
    access_code_id: str = "",
    reservation=None,
    message: str = "",
) -> DeviceAlert | None:
    """Raise a problem on the dashboard: one open alert per device (or, for an alert about
    a listing and no lock, per listing), kind and key (`access_code_id`). Returns the new
    alert, or None when it was open already (so that whoever raised it does not, say,
    email again)."""
    place = {"device": device} if device is not None else {"listing": listing, "device": None}
    current = DeviceAlert.objects.filter(
        **place, kind=kind, access_code_id=access_code_id, resolved_at__isnull=True
    )
    if current.exists():
        return None
    try:
        with transaction.atomic():
            return DeviceAlert.objects.create(
                organization_id=(device or listing).organization_id,
                **place,
                kind=kind,
                access_code_id=access_code_id,
                reservation=reservation,
                event=event,
                message=message[:300],
                opened_at=at,
            )
    except IntegrityError:
        return None  # opened meanwhile by another process: one open alert per problem


def alert_resolve(
    *, device, kind: str, at, resolution: str, access_code_id: str | None = None
) -> None:
    """The cause is gone: the alert is resolved, saying how (it stays in the history)."""
    alerts = DeviceAlert.objects.filter(device=device, kind=kind, resolved_at__isnull=True)
    if access_code_id is not None:
        alerts = alerts.filter(access_code_id=access_code_id)
    alerts.update(resolved_at=at, resolution=resolution[:300])


def listing_alert_open(
    *, listing, kind: str, key: str, at, reservation=None, message: str = ""
) -> DeviceAlert | None:
    """Raise a problem about a listing and no lock (a calendar feed, a double booking):
    one open alert per listing, kind and key. None when it was open already."""
    return alert_open(
        listing=listing,
        kind=kind,
        at=at,
        access_code_id=key,
        reservation=reservation,
        message=message,
    )


def listing_alerts_resolve(*, kinds, key: str, at, resolution: str) -> int:
    """The cause is gone (the feed reads again, it was removed): resolved, saying how."""
    return DeviceAlert.objects.filter(
        device__isnull=True, kind__in=kinds, access_code_id=key, resolved_at__isnull=True
    ).update(resolved_at=at, resolution=resolution[:300])


# ------------------------------------------------------------------ double bookings


def _pair_key(a: int, b: int) -> str:
    return f"{min(a, b)}-{max(a, b)}"


def _stay_words(stay: Reservation, zone) -> str:
    return (
        f"{stay.guest_name} ({format_instant(stay.check_in, zone)} → "
        f"{format_instant(stay.check_out, zone)}, reservation {stay.pk})"
    )


def double_booking_alerts_refresh(*, reservation: Reservation, now, new: bool = False) -> None:
    """After a stay is saved: an alert for each confirmed stay it now overlaps at its
    listing (one per pair, opened once), and its pairs that no longer overlap resolved.
    A new stay that is not confirmed costs no query."""
    Status = Reservation.Status
    overlapping: dict[int, Reservation] = {}
    if reservation.status == Status.CONFIRMED and reservation.ended_at is None:
        overlapping = {
            other.pk: other
            for other in overlapping_stays(
                listing_id=reservation.listing_id,
                check_in=reservation.check_in,
                check_out=reservation.check_out,
                exclude_pk=reservation.pk,
            ).only("pk", "guest_name", "check_in", "check_out")[:20]
        }
    open_keys: set[str] = set()
    if not new:
        pk = reservation.pk
        alerts = DeviceAlert.objects.filter(
            Q(access_code_id__startswith=f"{pk}-") | Q(access_code_id__endswith=f"-{pk}"),
            organization_id=reservation.organization_id,
            kind=Kind.DOUBLE_BOOKING,
            resolved_at__isnull=True,
        )
        wanted = {_pair_key(pk, other) for other in overlapping}
        stale = []
        for alert_pk, key in alerts.values_list("pk", "access_code_id"):
            if key in wanted:
                open_keys.add(key)
            elif str(pk) in key.split("-"):
                stale.append(alert_pk)
        if stale:
            DeviceAlert.objects.filter(pk__in=stale).update(
                resolved_at=now, resolution="The two stays no longer overlap."
            )
    if not overlapping:
        return
    zone = reservation.listing.property.zone
    for other in overlapping.values():
        key = _pair_key(reservation.pk, other.pk)
        if key in open_keys:
            continue
        listing_alert_open(
            listing=reservation.listing,
            kind=Kind.DOUBLE_BOOKING,
            key=key,
            at=now,
            reservation=reservation,
            message=(
                f"{_stay_words(reservation, zone)} and {_stay_words(other, zone)} are both "
                "confirmed for the same nights: keep the real one, cancel the other."
            ),
        )


def verification_alert_key(reservation_id: int) -> str:
    return f"verify-{reservation_id}"


def verification_alerts_expire(*, now) -> int:
    """A guest not verified is no longer a problem once the stay is over or cancelled
    (verifying resolves it at once: reservations.verification)."""
    open_ones = DeviceAlert.objects.filter(kind=Kind.NOT_VERIFIED, resolved_at__isnull=True)
    return open_ones.filter(
        Q(reservation__isnull=True)
        | Q(reservation__check_out__lte=now)
        | Q(reservation__status=Reservation.Status.CANCELLED)
        | Q(reservation__ended_at__isnull=False)
    ).update(resolved_at=now, resolution="The stay is over or cancelled.")


def double_booking_alerts_expire(*, now=None) -> int:
    """A double booking whose stays are over is no longer a problem (the overlap lies
    within both stays, so it is over once either is)."""
    now = now or timezone.now()
    open_ones = DeviceAlert.objects.filter(kind=Kind.DOUBLE_BOOKING, resolved_at__isnull=True)
    over = open_ones.filter(reservation__check_out__lte=now).update(
        resolved_at=now, resolution="The stays are over."
    )
    deleted = open_ones.filter(reservation__isnull=True).update(
        resolved_at=now, resolution="One of the stays was deleted."
    )
    return over + deleted


def _name_of(by) -> str:
    """A person's name as the dashboard shows it, or an API key's label."""
    if by is None:
        return ""
    full_name = getattr(by, "get_full_name", lambda: "")()
    return (full_name or str(by))[:200]


def alert_acknowledge(*, alert: DeviceAlert, by) -> DeviceAlert:
    """Someone has seen the alert and is on it: who and when are recorded, once.

    `by` is a user, or an API key's principal (not a user: only its label is kept). An
    alert about one event (an unlock while vacant) has no cause that could go away by
    itself: acknowledging it resolves it. Others stay open, acknowledged, until resolved.
    """
    now = timezone.now()
    user = by if isinstance(by, get_user_model()) else None
    with transaction.atomic():
        alert = DeviceAlert.objects.select_for_update().get(pk=alert.pk)
        if alert.acknowledged_at is not None:
            return alert  # the first acknowledgement is the one kept
        alert.acknowledged_at = now
        alert.acknowledged_by = user
        alert.acknowledged_by_name = _name_of(by)
        fields = ["acknowledged_at", "acknowledged_by", "acknowledged_by_name"]
        if alert.kind in DeviceAlert.EVENT_KINDS and alert.resolved_at is None:
            alert.resolved_at = now
            alert.resolution = f"Acknowledged by {alert.acknowledged_by_name or 'staff'}."[:300]
            fields += ["resolved_at", "resolution"]
        alert.save(update_fields=fields)
    return alert
