"""Guesty: reservation webhooks `reservation.created.v2` / `reservation.updated.v2`
(the legacy `reservation.new` / `reservation.updated` are read too while Guesty still
sends them).

Verification: Guesty delivers its webhooks through Svix; each request carries `svix-id`,
`svix-timestamp` and `svix-signature`, signed with the webhook's secret (`whsec_…`, from
Guesty's API). Svix's own library checks the signature and the timestamp's tolerance.
Dedupe on `svix-id` (the same message keeps its id across Svix's retries).
Ordering: v2 events carry `publishedAt`; legacy ones the reservation's `lastUpdatedAt`.
"""

from __future__ import annotations

from svix.webhooks import Webhook, WebhookVerificationError

from .base import Booking, Contact, Refused, Skip, Unreadable, body_hash, parse_instant, text

EVENTS = {
    "reservation.created.v2",
    "reservation.updated.v2",
    "reservation.new",
    "reservation.updated",
}

STATUSES = {
    "confirmed": "confirmed",
    "reserved": "pending",  # dates held, not confirmed yet
    "awaiting_payment": "pending",
    "canceled": "cancelled",
    "cancelled": "cancelled",
    "declined": "cancelled",
    "expired": "cancelled",
    "closed": "cancelled",
}


class GuestyAdapter:
    kind = "guesty"
    label = "Guesty"
    instructions = (
        "In Guesty (Open API → Webhooks), subscribe this URL to reservation.created.v2 and "
        "reservation.updated.v2, and paste the webhook's signing secret (whsec_…) here."
    )

    def verify(self, *, connection, headers: dict[str, str], body: bytes) -> None:
        secret = connection.webhook_secret
        if not secret:
            raise Refused("No signing secret is set on this connection.")
        try:
            Webhook(secret).verify(body, headers)
        except WebhookVerificationError as error:
            raise Refused(f"Signature not valid ({error}).") from error
        except Exception as error:  # a malformed secret or header: refused all the same
            raise Refused("Signature could not be checked.") from error

    def delivery_key(self, *, headers: dict[str, str], body: bytes) -> str:
        lowered = {k.lower(): v for k, v in headers.items()}
        message_id = lowered.get("svix-id", "")
        if message_id and len(message_id) <= 150:
            return f"svix:{message_id}"
        return body_hash(body)

    def parse(self, payload: dict) -> Booking:
        event = payload.get("event")
        if event not in EVENTS:
            raise Skip(f"Not a reservation event ({text(event, limit=60) or 'none'}).")
        reservation = payload.get("reservation")
        if not isinstance(reservation, dict):
            raise Unreadable("No `reservation` object.")
        external_id = text(reservation.get("_id"), limit=100)
        listing_id = text(reservation.get("listingId"), limit=100)
        if not external_id or not listing_id:
            raise Unreadable("`reservation._id` or `reservation.listingId` is missing.")
        raw_status = text(reservation.get("status"), limit=40)
        status = STATUSES.get(raw_status)
        if status is None:
            raise Skip(f"Guesty status {raw_status or 'none'!r} holds no stay (an inquiry).")
        stamp = payload.get("publishedAt") or reservation.get("lastUpdatedAt")
        guest = reservation.get("guest") if isinstance(reservation.get("guest"), dict) else {}
        return Booking(
            external_id=external_id,
            listing_external_id=listing_id,
            check_in=parse_instant(reservation.get("checkIn"), field="reservation.checkIn"),
            check_out=parse_instant(reservation.get("checkOut"), field="reservation.checkOut"),
            status=status,
            updated_at=parse_instant(stamp, field="publishedAt"),
            event=event,
            guest_name=text(guest.get("fullName"), limit=200),
            guest_email=text(guest.get("email"), limit=254),
            guest_phone=text(guest.get("phone"), limit=32),
            guest_id=text(reservation.get("guestId"), limit=100),
        )

    def fetch_contact(self, *, connection, booking: Booking) -> Contact | None:
        if booking.guest_email or booking.guest_phone:
            return None  # a legacy payload carried them
        if not connection.has_api_credentials or not booking.guest_id:
            return None
        from .guesty_api import guest_contact

        return guest_contact(connection, booking.guest_id)
