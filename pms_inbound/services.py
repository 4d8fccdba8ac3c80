"""Bookings pushed by a PMS: connections, receiving a delivery, applying it.

A delivery is recorded before anything is applied (the receipt is committed first), then
applied by a django-q2 task. Applying maps the adapter's `Booking` through the REST API's
own reservation serializer and Keystay's reservation services, so that a webhook and the
API create, change, confirm and cancel stays by one rule.
"""

from __future__ import annotations

import datetime
import json
import logging
import secrets
import uuid
from dataclasses import dataclass
from types import SimpleNamespace

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from redis.exceptions import RedisError

from api.serializers import ReservationSerializer
from core import access
from properties.models import Listing
from reservations import services as reservation_services
from reservations.models import Reservation

from .adapters import adapter_for
from .adapters.base import Booking, Refused, Skip, Unreadable
from .adapters.guesty_api import GuestyRefused
from .models import PmsBooking, PmsConnection, PmsDelivery

logger = logging.getLogger(__name__)
Status = PmsDelivery.Status


# ---------------------------------------------------------------------------- connections


def connection_create(
    *,
    organization,
    kind: str,
    name: str,
    webhook_secret: str = "",
    webhook_login: str = "",
    api_client_id: str = "",
    api_client_secret: str = "",
) -> tuple[PmsConnection, str]:
    """A new connection, and the webhook secret to show once. For Hostaway a password is
    made when none is given (the manager pastes it into Hostaway); Guesty's signing secret
    is Guesty's, pasted here."""
    adapter_for(kind)  # an unknown kind fails here, not at the first delivery
    if kind == PmsConnection.Kind.HOSTAWAY:
        webhook_login = webhook_login or "keystay"
        webhook_secret = webhook_secret or secrets.token_urlsafe(24)
    connection = PmsConnection(
        organization=organization,
        kind=kind,
        name=name,
        webhook_login=webhook_login,
        api_client_id=api_client_id,
    )
    connection_set_secrets(
        connection=connection,
        webhook_secret=webhook_secret,
        api_client_secret=api_client_secret,
        save=False,
    )
    connection.full_clean()
    connection.save()
    return connection, webhook_secret


def connection_set_secrets(
    *,
    connection: PmsConnection,
    webhook_secret: str = "",
    api_client_secret: str = "",
    save: bool = True,
) -> None:
    """Replace the secrets given (an empty one keeps the stored value)."""
    if webhook_secret:
        connection.webhook_secret = webhook_secret
        connection.webhook_secret_last4 = webhook_secret[-4:]
    if api_client_secret:
        connection.api_client_secret = api_client_secret
    if save:
        connection.save()


# ------------------------------------------------------------------------------ receiving


@dataclass(frozen=True)
class Receipt:
    http_status: int
    outcome: str  # "received", "duplicate", "refused", "unreadable"
    delivery: PmsDelivery | None


REFUSED_RECORDED_PER_10_MINUTES = 50


def _record_refused(connection: PmsConnection, reason: str, now) -> PmsDelivery | None:
    # Whoever knows the URL could send forgeries without end: past a few dozen in ten
    # minutes, they are logged (the view's warning) and no longer stored.
    recent = PmsDelivery.objects.filter(
        connection=connection,
        status=Status.REFUSED,
        received_at__gte=now - datetime.timedelta(minutes=10),
    )
    if recent.count() >= REFUSED_RECORDED_PER_10_MINUTES:
        return None
    # Never the body: it is not known to be the PMS's, and could hold anything.
    return PmsDelivery.objects.create(
        organization_id=connection.organization_id,
        connection=connection,
        delivery_key=f"refused:{uuid.uuid4().hex}",
        status=Status.REFUSED,
        reason=reason[:500],
        received_at=now,
        processed_at=now,
    )


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _json_object(body: bytes) -> dict | None:
    """The body as a JSON object that any database stores; None otherwise. NaN and
    Infinity (Python's json reads them) and NUL characters (PostgreSQL's jsonb refuses
    them) make a body unreadable here rather than a database error later."""
    if b"\\u0000" in body.lower():
        return None
    try:
        payload = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return None
    return payload if isinstance(payload, dict) else None


def delivery_receive(
    *, connection: PmsConnection, headers: dict[str, str], body: bytes, now=None
) -> Receipt:
    """Verify and record one request; the booking is applied afterwards (a task)."""
    now = now or timezone.now()
    adapter = adapter_for(connection.kind)
    try:
        adapter.verify(connection=connection, headers=headers, body=body)
    except Refused as error:
        logger.warning("PMS webhook for connection %s refused: %s", connection.pk, error)
        return Receipt(401, "refused", _record_refused(connection, str(error), now))
    key = adapter.delivery_key(headers=headers, body=body)
    existing = PmsDelivery.objects.filter(connection=connection, delivery_key=key).first()
    if existing is not None:
        return Receipt(200, "duplicate", existing)
    payload = _json_object(body)
    readable = payload is not None
    try:
        with transaction.atomic():
            delivery = PmsDelivery.objects.create(
                organization_id=connection.organization_id,
                connection=connection,
                delivery_key=key,
                event=str(payload.get("event") or "")[:100] if readable else "",
                body=payload if readable else None,
                status=Status.RECEIVED if readable else Status.FAILED,
                reason="" if readable else "The body is not a JSON object.",
                received_at=now,
                processed_at=None if readable else now,
                next_attempt_at=now if readable else None,
            )
    except IntegrityError:
        # The PMS delivered the same message twice at once: the other request has it.
        existing = PmsDelivery.objects.get(connection=connection, delivery_key=key)
        return Receipt(200, "duplicate", existing)
    if not readable:
        return Receipt(400, "unreadable", delivery)
    transaction.on_commit(lambda: enqueue_apply(delivery.pk))
    return Receipt(202, "received", delivery)


def enqueue_apply(delivery_id: int) -> None:
    """A shortcut only: the delivery is due work in the database, and the periodic retry
    applies it when the broker cannot take the task."""
    from django_q.tasks import async_task

    try:
        async_task("pms_inbound.tasks.apply_delivery", delivery_id, group="pms-inbound")
    except (RedisError, DatabaseError) as error:
        logger.warning("PMS delivery %s not queued (%s); the retry applies it", delivery_id, error)


# ------------------------------------------------------------------------------- applying


class _Final(Exception):
    """The delivery cannot apply, and retrying would not change that."""

    def __init__(self, reason: str, *, needs_attention: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.needs_attention = needs_attention


def _principal_request(organization_id: int, label: str):
    """What the API's serializer reads its caller from: a manager of this organization."""
    principal = access.Principal(roles={organization_id: access.Role.MANAGER}, label=label)
    return SimpleNamespace(auth=None, user=principal)


def _messages(detail) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{field}: {_messages(value)}" for field, value in detail.items())
    if isinstance(detail, list):
        return " ".join(_messages(value) for value in detail)
    return str(detail)


def _as_api_value(value) -> str:
    return value.isoformat()


def _apply_booking(
    delivery: PmsDelivery, connection: PmsConnection, booking: Booking, now
) -> tuple[str, str, Reservation | None]:
    """(status, reason, reservation) of applying `booking`; raises _Final or lets a
    transient error through (retried)."""
    organization_id = connection.organization_id
    listing = Listing.objects.filter(
        organization_id=organization_id, external_id=booking.listing_external_id
    ).first()
    if listing is None:
        raise _Final(
            f"No listing of this organization has the external id "
            f"{booking.listing_external_id!r}: set it on the listing, then apply again.",
            needs_attention=True,
        )
    mark = PmsBooking.objects.filter(connection=connection, external_id=booking.external_id)
    mark = mark.select_related("reservation").first()
    if mark is not None and mark.source_updated_at >= booking.updated_at:
        return (
            Status.IGNORED,
            f"Older than the version applied ({mark.source_updated_at.isoformat()}).",
            mark.reservation,
        )
    existing = mark.reservation if mark is not None else None
    if existing is None:
        existing = Reservation.objects.filter(
            listing__organization_id=organization_id, external_id=booking.external_id
        ).first()
    if existing is None and booking.status == Reservation.Status.CANCELLED:
        return Status.IGNORED, "Cancelled before Keystay knew the booking.", None

    contact_missing = False
    email, phone, name = booking.guest_email, booking.guest_phone, booking.guest_name
    if not (email or phone) and (
        existing is None or not (existing.guest_email or existing.guest_phone)
    ):
        adapter = adapter_for(connection.kind)
        try:
            contact = adapter.fetch_contact(connection=connection, booking=booking)
        except GuestyRefused as error:
            contact = None
            logger.warning("PMS delivery %s: guest not fetched: %s", delivery.pk, error)
        if contact is not None:
            email, phone, name = contact.email, contact.phone, name or contact.name
        contact_missing = not (email or phone)

    if not name and existing is None:
        # A name is required for a stay; Guesty's lean payload has none until it is fetched.
        name = f"{connection.get_kind_display()} guest ({booking.external_id})"
    data: dict = {
        "listing": listing.pk,
        "external_id": booking.external_id,
        "check_in": _as_api_value(booking.check_in),
        "check_out": _as_api_value(booking.check_out),
    }
    if existing is None or existing.status != booking.status:
        data["status"] = booking.status
    for field, value in (("guest_name", name), ("guest_email", email), ("guest_phone", phone)):
        if value or existing is None:
            data[field] = value
    if existing is None:
        data["source"] = connection.kind
    request = _principal_request(organization_id, connection.get_kind_display())
    serializer = ReservationSerializer(
        existing,
        data=data,
        partial=existing is not None,
        context={"request": request, "upsert": True},
    )
    if not serializer.is_valid():
        raise _Final(_messages(serializer.errors)[:500])
    fields = dict(serializer.validated_data)
    try:
        with transaction.atomic():
            if existing is None:
                reservation = reservation_services.reservation_create(**fields, now=now)
            else:
                reservation = reservation_services.reservation_update(
                    reservation=existing, **fields, now=now
                )
            PmsBooking.objects.update_or_create(
                connection=connection,
                external_id=booking.external_id,
                defaults={
                    "reservation": reservation,
                    "source_updated_at": booking.updated_at,
                    "contact_missing": contact_missing,
                },
            )
    except ValidationError as error:
        raise _Final(" ".join(error.messages)[:500]) from error
    what = "created" if existing is None else "updated"
    reason = f"Stay {what} ({reservation.get_status_display().lower()})."
    if contact_missing:
        reason += " No email or phone: the guest cannot be sent messages."
    return Status.APPLIED, reason, reservation


def _backoff(attempts: int) -> datetime.timedelta:
    return datetime.timedelta(minutes=min(2 ** max(attempts - 1, 0), 60))


def delivery_apply(*, delivery_id: int, now=None) -> PmsDelivery | None:
    """Apply one received (or failed, due again) delivery; records the outcome."""
    now = now or timezone.now()
    # Claim it: a delivery due now, taken by one worker (the due instant moves forward).
    lease = now + datetime.timedelta(minutes=5)
    claimed = PmsDelivery.objects.filter(
        pk=delivery_id,
        status__in=[Status.RECEIVED, Status.FAILED],
        next_attempt_at__isnull=False,
        next_attempt_at__lte=now,
    ).update(next_attempt_at=lease)
    if not claimed:
        return None
    delivery = PmsDelivery.objects.select_related("connection").get(pk=delivery_id)
    connection = delivery.connection
    adapter = adapter_for(connection.kind)
    delivery.attempts += 1
    delivery.processed_at = now
    delivery.needs_attention = False
    try:
        booking = adapter.parse(delivery.body or {})
        delivery.external_id = booking.external_id
        delivery.listing_external_id = booking.listing_external_id
        delivery.source_updated_at = booking.updated_at
        delivery.status, delivery.reason, delivery.reservation = _apply_booking(
            delivery, connection, booking, now
        )
        delivery.next_attempt_at = None
    except Skip as skip:
        delivery.status, delivery.reason, delivery.next_attempt_at = (
            Status.IGNORED,
            str(skip),
            None,
        )
    except Unreadable as error:
        delivery.status, delivery.next_attempt_at = Status.FAILED, None
        delivery.reason = f"Unreadable booking: {error}"
    except _Final as final:
        delivery.status, delivery.reason, delivery.next_attempt_at = (
            Status.FAILED,
            final.reason,
            None,
        )
        delivery.needs_attention = final.needs_attention
        if final.needs_attention:
            logger.error(
                "PMS delivery %s for connection %s needs attention: %s",
                delivery.pk,
                connection.pk,
                final.reason,
            )
    except Exception as error:
        # Anything else may pass (Guesty rate-limited or down, a database hiccup): retried
        # with backoff, then kept as failed for a person to see.
        logger.exception("PMS delivery %s failed (attempt %s)", delivery.pk, delivery.attempts)
        delivery.status = Status.FAILED
        delivery.reason = (
            f"Attempt {delivery.attempts} failed: {str(error)[:300] or type(error).__name__}"
        )
        if delivery.attempts < settings.PMS_DELIVERY_MAX_ATTEMPTS:
            delivery.next_attempt_at = now + _backoff(delivery.attempts)
            delivery.reason += " (retried)."
        else:
            delivery.next_attempt_at = None
            delivery.reason += " (no more retries)."
    delivery.reason = delivery.reason[:500]
    delivery.save()
    return delivery


def delivery_retry(*, delivery: PmsDelivery, now=None) -> PmsDelivery | None:
    """A person asks again (after setting the listing's external id, say)."""
    now = now or timezone.now()
    if delivery.status not in (Status.FAILED, Status.RECEIVED) or delivery.body is None:
        return None
    PmsDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=now, attempts=0)
    return delivery_apply(delivery_id=delivery.pk, now=now)


def deliveries_apply_due(*, now=None, limit: int = 200) -> int:
    """The safety net: every delivery received or failed whose next attempt is due."""
    now = now or timezone.now()
    due = PmsDelivery.objects.filter(
        status__in=[Status.RECEIVED, Status.FAILED],
        next_attempt_at__isnull=False,
        next_attempt_at__lte=now,
    ).order_by("received_at", "pk")
    count = 0
    for delivery_id in due.values_list("pk", flat=True)[:limit]:
        if delivery_apply(delivery_id=delivery_id, now=now) is not None:
            count += 1
    return count
