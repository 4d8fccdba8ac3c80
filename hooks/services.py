"""Every write of outgoing webhooks: endpoints, their secrets, and the outbox of deliveries.

The admin, the API, the stay-event receiver and the tasks all come here.

Delivering follows the house's rule for due work: a delivery is a row with a due instant
(`next_attempt_at`); a worker claims one attempt with a compare-and-set on the attempt
count (so two workers never send the same attempt), sends outside any transaction, and
records the outcome only if the row is still the one it claimed. The claim pushes the due
instant a lease ahead: a worker that dies mid-request leaves the row due again later.
"""

from __future__ import annotations

import datetime
import json
import logging
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass

import httpx
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core import outbound
from guests.services import message_record_webhook
from properties.models import Organization
from reservations.models import Reservation
from reservations.signals import EVENTS

from . import payloads, signing
from .models import WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

State = WebhookDelivery.State

# Retries: waits after each failed attempt; once they are used up, one last attempt when
# the day is over, then the delivery has failed (a person can still resend it).
RETRY_WAITS = [
    datetime.timedelta(minutes=1),
    datetime.timedelta(minutes=5),
    datetime.timedelta(minutes=30),
    datetime.timedelta(hours=2),
    datetime.timedelta(hours=6),
    datetime.timedelta(hours=12),
]
RETRY_WINDOW = datetime.timedelta(hours=24)
# How far an attempt under way pushes the due instant: well past the request's deadline.
LEASE = datetime.timedelta(minutes=2)
# After a rotation, the previous secret also signs for this long.
PREVIOUS_SECRET_VALID = datetime.timedelta(hours=24)
# What is kept of an answer.
RESPONSE_KEPT_CHARS = 2000
USER_AGENT = "Keystay-Webhooks/1.0"


# ------------------------------------------------------------------------ endpoints


def events_problem(events) -> str | None:
    if not isinstance(events, list | tuple) or not events:
        return "Choose at least one event."
    unknown = [str(e) for e in events if e not in EVENTS]
    if unknown:
        return f"Unknown event(s): {', '.join(unknown)}. Choose among: {', '.join(EVENTS)}."
    return None


def _clean_events(events) -> list[str]:
    problem = events_problem(events)
    if problem:
        raise ValidationError({"events": problem})
    return [event for event in EVENTS if event in events]  # one each, in a fixed order


def _checked_url(url: str) -> str:
    try:
        outbound.validate_outbound_url(url)
    except ValidationError as error:
        raise ValidationError({"url": error.messages}) from None
    return url


@transaction.atomic
def endpoint_create(
    *,
    organization: Organization,
    url: str,
    events: Iterable[str],
    description: str = "",
    include_codes: bool = True,
    active: bool = True,
    created_by=None,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret. The secret is returned once: show it now."""
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        organization=organization,
        url=_checked_url(url),
        events=_clean_events(list(events)),
        description=description,
        include_codes=include_codes,
        active=active,
        created_by=created_by,
        secret_hint=secret[-4:],
    )
    endpoint.secret = secret
    endpoint.full_clean()
    endpoint.save()
    return endpoint, secret


UPDATABLE = ("url", "events", "description", "include_codes", "active")


@transaction.atomic
def endpoint_update(*, endpoint: WebhookEndpoint, **changes) -> WebhookEndpoint:
    """Change an endpoint; a new URL is checked again (the old one was, when it was set)."""
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise TypeError(f"Not changeable: {sorted(unknown)}")
    if "url" in changes and changes["url"] != endpoint.url:
        endpoint.url = _checked_url(changes["url"])
    if "events" in changes:
        endpoint.events = _clean_events(list(changes["events"]))
    for name in ("description", "include_codes", "active"):
        if name in changes:
            setattr(endpoint, name, changes[name])
    endpoint.full_clean()
    endpoint.save()
    return endpoint


@transaction.atomic
def endpoint_rotate_secret(
    *, endpoint: WebhookEndpoint, now: datetime.datetime | None = None
) -> str:
    """A new secret, returned once; the previous one also signs for a day, so a receiver
    can switch without refusing a delivery meanwhile."""
    now = now or timezone.now()
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    secret = signing.new_secret()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = now + PREVIOUS_SECRET_VALID
    endpoint.secret = secret
    endpoint.secret_hint = secret[-4:]
    endpoint.secret_rotated_at = now
    endpoint.save(
        update_fields=[
            "previous_secret_ciphertext",
            "previous_secret_until",
            "secret_ciphertext",
            "secret_hint",
            "secret_rotated_at",
            "updated_at",
        ]
    )
    return secret


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Gone with its deliveries (their record goes too: nothing is owed to it any more)."""
    endpoint.delete()


def signing_secrets(endpoint: WebhookEndpoint, now: datetime.datetime) -> list[str]:
    found = [endpoint.secret]
    if endpoint.previous_secret_until and now < endpoint.previous_secret_until:
        found.append(endpoint.previous_secret)
    return [s for s in found if s]


# ------------------------------------------------------------------------ the outbox


def deliveries_record(
    *,
    event: str,
    reservation_id: int,
    lock_access_id: int | None = None,
    at: datetime.datetime | None = None,
) -> list[int]:
    """One pending delivery per active endpoint of the stay's organization that listens to
    `event`; returns their ids (enqueue them once this commits)."""
    at = at or timezone.now()
    organization_id = (
        Reservation.objects.filter(pk=reservation_id).values_list("organization_id", flat=True)
    ).first()
    if organization_id is None:
        return []
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(
            organization_id=organization_id, active=True
        )
        if event in endpoint.events
    ]
    if not endpoints:
        return []
    reservation = payloads.load_reservation(reservation_id)
    if reservation is None:  # deleted since the event
        return []
    event_id = payloads.new_event_id()
    body = payloads.build(
        event=event,
        event_id=event_id,
        reservation=reservation,
        lock_access_id=lock_access_id,
        at=at,
    )
    now = timezone.now()
    rows = []
    for endpoint in endpoints:
        delivery = WebhookDelivery(
            organization_id=organization_id,
            endpoint=endpoint,
            event=event,
            event_id=event_id,
            occurred_at=at,
            reservation_id=reservation_id,
            next_attempt_at=now,
            retry_until=max(at, now) + RETRY_WINDOW,
        )
        delivery.payload = body if endpoint.include_codes else payloads.without_codes(body)
        rows.append(delivery)
    with transaction.atomic():
        created = WebhookDelivery.objects.bulk_create(rows)
    return [delivery.pk for delivery in created]


def enqueue(delivery_ids: Iterable[int]) -> None:
    """Ask the cluster to deliver now (the periodic sweep would find them anyway)."""
    from django_q.tasks import async_task

    for delivery_id in delivery_ids:
        async_task("hooks.tasks.deliver", delivery_id, group="webhooks")


def delivery_resend(
    *, delivery: WebhookDelivery, now: datetime.datetime | None = None
) -> WebhookDelivery:
    """Send it again now, whatever its state, and retry for another day if that fails.

    The body is the same (same event id): a receiver that handled it already sees a repeat.
    """
    now = now or timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        state=State.PENDING,
        next_attempt_at=now,
        retry_until=now + RETRY_WINDOW,
        resent_at=now,
        delivered_at=None,
    )
    transaction.on_commit(lambda: enqueue([delivery.pk]))
    delivery.refresh_from_db()
    return delivery


def next_attempt(delivery: WebhookDelivery, now: datetime.datetime) -> datetime.datetime | None:
    """When to try again after a failed attempt at `now` (None: give up).

    The waits count from the start of the delivery's day (the event, or the last resend),
    so a late attempt does not push every later one back.
    """
    if now >= delivery.retry_until:
        return None
    start = delivery.retry_until - RETRY_WINDOW
    offset = datetime.timedelta(0)
    for wait in RETRY_WAITS:
        offset += wait
        if start + offset > now:
            return start + offset
    return delivery.retry_until


def _claim(delivery_id: int, now: datetime.datetime) -> int | None:
    """Take the next attempt of a due delivery; its attempt number, or None when it is not
    due or another worker took it first."""
    row = (
        WebhookDelivery.objects.filter(
            pk=delivery_id, state=State.PENDING, next_attempt_at__lte=now
        )
        .values_list("attempts", flat=True)
        .first()
    )
    if row is None:
        return None
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, state=State.PENDING, next_attempt_at__lte=now, attempts=row
    ).update(attempts=F("attempts") + 1, next_attempt_at=now + LEASE, last_attempt_at=now)
    return row + 1 if claimed else None


def _kept(text: str) -> str:
    # PostgreSQL's text refuses NUL; an answer is anyone's bytes.
    return text.replace("\x00", "\ufffd")[:RESPONSE_KEPT_CHARS]


def _network_error(error: Exception) -> str:
    if isinstance(error, httpx.TimeoutException):
        return "The receiver did not answer in time."
    if isinstance(error, OSError) and not isinstance(error, httpx.HTTPError):
        return f"The receiver's host name could not be resolved ({error.__class__.__name__})."
    detail = str(error) or error.__class__.__name__
    return _kept(f"The receiver could not be reached: {detail}")


def delivery_attempt(delivery_id: int, *, now: datetime.datetime | None = None) -> str:
    """Make the delivery's next attempt if it is due and no other worker has; record it."""
    now = now or timezone.now()
    attempt = _claim(delivery_id, now)
    if attempt is None:
        return "not due"
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    outcome: dict = {"last_status_code": None, "last_response": "", "last_error": ""}
    final_failure = False
    if not endpoint.active:
        outcome["last_error"] = "The endpoint is switched off: nothing was sent."
        final_failure = True
    else:
        body = delivery.payload_text.encode()
        headers = _signed_headers(
            endpoint,
            body,
            now,
            event=delivery.event,
            event_id=delivery.event_id,
            more={"Keystay-Delivery": str(delivery.pk), "Keystay-Attempt": str(attempt)},
        )
        try:
            answer = outbound.post(endpoint.url, content=body, headers=headers)
        except outbound.OutboundRefused as refused:
            # The address moved somewhere Keystay does not call: no retry will change that
            # by itself; the endpoint's URL (or its DNS) must.
            outcome["last_error"] = _kept(f"Not sent: {refused.message}")
            final_failure = True
        except (httpx.HTTPError, OSError) as error:
            outcome["last_error"] = _network_error(error)
        else:
            outcome["last_status_code"] = answer.status_code
            outcome["last_response"] = _kept(answer.text)
            outcome["last_error"] = _answer_problem(answer)
    return _record(delivery, attempt, outcome, final_failure=final_failure)


def _signed_headers(
    endpoint: WebhookEndpoint,
    body: bytes,
    now: datetime.datetime,
    *,
    event: str,
    event_id: str,
    more: dict[str, str],
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Keystay-Event": event,
        "Keystay-Event-Id": event_id,
        **more,
        signing.SIGNATURE_HEADER: signing.signature_header(
            signing_secrets(endpoint, now), int(now.timestamp()), body
        ),
    }


def _answer_problem(answer) -> str:
    """What is wrong with a receiver's answer ("" when it took the event)."""
    if answer.ok:
        return ""
    message = f"The receiver answered {answer.status_code}."
    if 300 <= answer.status_code < 400:
        where = f" to {answer.location}" if answer.location else ""
        message = (
            f"The receiver answered {answer.status_code}, a redirect{where}: "
            "redirects are not followed. Register the final address."
        )
    return _kept(message)


TEST_EVENT = "endpoint.test"


@dataclass(frozen=True)
class TestAnswer:
    """What the endpoint answered a test event: its status and body, or why none came."""

    status_code: int | None
    response: str
    problem: str

    @property
    def ok(self) -> bool:
        return self.status_code is not None and not self.problem


def endpoint_test(
    *, endpoint: WebhookEndpoint, now: datetime.datetime | None = None
) -> TestAnswer:
    """Send the endpoint a signed test event now, through the outbound guard, and say what
    it answered. Nothing is recorded or retried: a manager checks an address and its
    signature before real events go there (also while the endpoint is switched off)."""
    now = now or timezone.now()
    event_id = payloads.new_event_id()
    payload = {
        "id": event_id,
        "type": TEST_EVENT,
        "occurred_at": now.isoformat(),
        "organization": endpoint.organization_id,
        "data": {"message": "A test event from Keystay: nothing happened."},
    }
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    headers = _signed_headers(
        endpoint, body, now, event=TEST_EVENT, event_id=event_id, more={"Keystay-Test": "1"}
    )
    try:
        answer = outbound.post(endpoint.url, content=body, headers=headers)
    except outbound.OutboundRefused as refused:
        return TestAnswer(None, "", _kept(f"Not sent: {refused.message}"))
    except (httpx.HTTPError, OSError) as error:
        return TestAnswer(None, "", _network_error(error))
    return TestAnswer(answer.status_code, _kept(answer.text), _answer_problem(answer))


def _record(delivery: WebhookDelivery, attempt: int, outcome: dict, *, final_failure: bool) -> str:
    finished = timezone.now()
    delivered = outcome["last_status_code"] is not None and not outcome["last_error"]
    if delivered:
        changes = {"state": State.DELIVERED, "delivered_at": finished, "next_attempt_at": None}
        result = "delivered"
    else:
        retry_at = None if final_failure else next_attempt(delivery, finished)
        if retry_at is None:
            changes = {"state": State.FAILED, "next_attempt_at": None}
            result = "failed"
        else:
            changes = {"next_attempt_at": retry_at}
            result = f"retry at {retry_at.isoformat()}"
    with transaction.atomic():
        # Only the attempt this worker claimed is recorded: a resend made meanwhile keeps
        # its own due instant when this attempt failed.
        recorded = WebhookDelivery.objects.filter(
            pk=delivery.pk, attempts=attempt, state=State.PENDING
        ).update(**outcome, **changes)
        if recorded and result in ("delivered", "failed"):
            # In the same transaction as the outcome it records: once per final outcome.
            _record_for_guest(delivery, attempt, outcome, delivered=delivered, at=finished)
    if not recorded:
        return "superseded"
    if not delivered:
        logger.info(
            "Webhook delivery %s (%s) attempt %s: %s",
            delivery.pk,
            delivery.event,
            attempt,
            outcome["last_error"],
        )
    return result


def _record_for_guest(
    delivery: WebhookDelivery, attempt: int, outcome: dict, *, delivered: bool, at
) -> None:
    """A delivery that handed the guest's door codes to a PMS is a delivery to the guest:
    the reservation's guest messages show it (sent, or failed for good: retries used up,
    or refused by the outbound guard) and a delivered one marks the code sent. One
    without codes (an endpoint without `include_codes`, a lock event) told the guest
    nothing and is not recorded there."""
    if delivery.reservation_id is None or not payloads.carries_codes(delivery.payload):
        return
    if not delivered and not delivery.endpoint.active:
        return  # a manager switched the endpoint off: a choice, not a failed delivery
    try:
        with transaction.atomic():  # a failure here must not undo the delivery's record
            message_record_webhook(
                reservation_id=delivery.reservation_id,
                event=delivery.event,
                delivered=delivered,
                recipient=_shown_url(delivery.endpoint.url),
                attempts=attempt,
                error=outcome["last_error"],
                reference=str(delivery.pk),
                now=at,
            )
    except Exception:
        logger.exception("Webhook delivery %s: not recorded among guest messages", delivery.pk)


def _shown_url(url: str) -> str:
    """The endpoint's address as the reservation page names it: without a query string or
    credentials in it, which may hold a receiver's token."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def due_ids(now: datetime.datetime, limit: int) -> list[int]:
    return list(
        WebhookDelivery.objects.filter(state=State.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def deliver_due(*, budget_seconds: float = 60.0, batch: int = 50) -> int:
    """Carry out due attempts, oldest first, until none is due or the budget is spent."""
    started = time.monotonic()
    done = 0
    while time.monotonic() - started < budget_seconds:
        ids = due_ids(timezone.now(), batch)
        if not ids:
            break
        for delivery_id in ids:
            if delivery_attempt(delivery_id) != "not due":
                done += 1
            if time.monotonic() - started >= budget_seconds:
                break
    return done
