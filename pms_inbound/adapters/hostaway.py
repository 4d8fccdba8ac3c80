"""Hostaway: the unified webhook (`reservation.created`, `reservation.updated`; message
events are ignored).

Verification: Hostaway protects a unified webhook with a login and password set beside
its URL (Settings → Integrations), sent as HTTP basic authentication. Hostaway sends no
delivery id, so a delivery is named by a hash of its body (a retry sends the same body).
Ordering: the reservation's `updatedOn` ("YYYY-MM-DD HH:MM:SS", UTC).
"""

from __future__ import annotations

import base64
import binascii
import hmac

from .base import Booking, Refused, Skip, Unreadable, body_hash, parse_date, parse_instant, text

EVENTS = {"reservation.created", "reservation.updated"}

STATUSES = {
    "new": "confirmed",
    "modified": "confirmed",
    "confirmed": "confirmed",
    "pending": "pending",
    "awaitingPayment": "pending",
    "awaitingGuestVerification": "pending",
    "cancelled": "cancelled",
    "declined": "cancelled",
    "expired": "cancelled",
}


class HostawayAdapter:
    kind = "hostaway"
    label = "Hostaway"
    instructions = (
        "In Hostaway (Settings → Integrations → Webhooks), add this URL as a unified "
        "webhook and protect it with the login and password set here."
    )

    def verify(self, *, connection, headers: dict[str, str], body: bytes) -> None:
        password = connection.webhook_secret
        if not password or not connection.webhook_login:
            raise Refused("No login and password are set on this connection.")
        lowered = {k.lower(): v for k, v in headers.items()}
        scheme, _, encoded = lowered.get("authorization", "").partition(" ")
        if scheme.lower() != "basic" or not encoded:
            raise Refused("No basic authentication.")
        try:
            sent = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError) as error:
            raise Refused("Basic authentication unreadable.") from error
        expected = f"{connection.webhook_login}:{password}".encode()
        if not hmac.compare_digest(sent, expected):
            raise Refused("Wrong login or password.")

    def delivery_key(self, *, headers: dict[str, str], body: bytes) -> str:
        return body_hash(body)

    def parse(self, payload: dict) -> Booking:
        event = payload.get("event")
        if event not in EVENTS:
            raise Skip(f"Not a reservation event ({text(event, limit=60) or 'none'}).")
        data = payload.get("data")
        if not isinstance(data, dict):
            nested = payload.get("payload")
            data = nested.get("data") if isinstance(nested, dict) else None
        if not isinstance(data, dict):
            raise Unreadable("No reservation in `data`.")
        external_id = text(str(data.get("id") or ""), limit=100)
        listing_id = text(str(data.get("listingMapId") or ""), limit=100)
        if not external_id or not listing_id:
            raise Unreadable("`id` or `listingMapId` is missing.")
        raw_status = text(data.get("status"), limit=40)
        status = STATUSES.get(raw_status)
        if status is None:
            raise Skip(f"Hostaway status {raw_status or 'none'!r} holds no guest stay.")
        stamp = data.get("updatedOn") or data.get("insertedOn")
        return Booking(
            external_id=external_id,
            listing_external_id=listing_id,
            check_in=parse_date(data.get("arrivalDate"), field="arrivalDate"),
            check_out=parse_date(data.get("departureDate"), field="departureDate"),
            status=status,
            updated_at=parse_instant(stamp, field="updatedOn"),
            event=event,
            guest_name=text(data.get("guestName"), limit=200),
            guest_email=text(data.get("guestEmail"), limit=254),
            guest_phone=text(data.get("phone"), limit=32),
        )

    def fetch_contact(self, *, connection, booking: Booking):
        return None  # Hostaway's payload carries the guest's details
