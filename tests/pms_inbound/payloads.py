"""PMS payloads as the tests send them, built from the PMSs' documented examples.

Guesty: the reservation object of the "New Reservation" example in Guesty's Open API
guide "Webhooks: Reservations" (open-api-docs.guesty.com/docs/webhooks-reservations):
its ids (`_id` 59d11425af06e3100095e9fe, `listingId` 59ac245d27cb310f0017afe3, `guestId`
586147bfb2acb2100022cfaf), `checkIn`/`checkOut` as UTC instants, `status`, and the lean
shape the "Reservation webhooks migration" guide describes for the v2 events: no money,
no guest object, the event's `publishedAt` for ordering. Dates are moved to the days of
each test. Deliveries are signed as Svix signs them (svix-id, svix-timestamp,
svix-signature).

Hostaway: the unified webhook's `reservation.created` / `reservation.updated` events with
a reservation object whose fields are those of Hostaway's reservation resource (`id`,
`listingMapId`, `guestName`, `guestEmail`, `phone`, `arrivalDate`, `departureDate`,
`status` "new"/"modified"/"cancelled", `updatedOn`, `insertedOn`), protected with the
basic authentication set beside the webhook's URL in Hostaway.
"""

from __future__ import annotations

import base64
import datetime
import json

import svix

GUESTY_SECRET = "whsec_" + base64.b64encode(b"keystay-tests-guesty-secret-32by").decode()
GUESTY_RESERVATION_ID = "59d11425af06e3100095e9fe"
GUESTY_LISTING_ID = "59ac245d27cb310f0017afe3"
GUESTY_GUEST_ID = "586147bfb2acb2100022cfaf"

HOSTAWAY_LOGIN = "keystay"
HOSTAWAY_PASSWORD = "hostaway-tests-password"
HOSTAWAY_RESERVATION_ID = 1294719
HOSTAWAY_LISTING_ID = "40160"


def utc(instant: datetime.datetime) -> str:
    return instant.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def guesty_reservation(
    *,
    check_in: datetime.datetime,
    check_out: datetime.datetime,
    published_at: datetime.datetime,
    event: str = "reservation.created.v2",
    status: str = "confirmed",
    listing_id: str = GUESTY_LISTING_ID,
    reservation_id: str = GUESTY_RESERVATION_ID,
) -> dict:
    return {
        "event": event,
        "publishedAt": utc(published_at),
        "reservation": {
            "_id": reservation_id,
            "listingId": listing_id,
            "accountId": "563e0b6a08a2710e00057b82",
            "guestId": GUESTY_GUEST_ID,
            "status": status,
            "checkIn": utc(check_in),
            "checkOut": utc(check_out),
            "checkInDateLocalized": check_in.date().isoformat(),
            "checkOutDateLocalized": check_out.date().isoformat(),
            "nightsCount": (check_out.date() - check_in.date()).days,
            "guestsCount": 2,
            "source": "Manual",
            "confirmationCode": "GY-h9kCHf6J",
            "lastUpdatedAt": utc(published_at),
        },
    }


def guesty_signed(
    payload: dict, *, msg_id: str, secret: str = GUESTY_SECRET, sent_at=None
) -> tuple[bytes, dict[str, str]]:
    """(body, headers as the test client takes them)."""
    body = json.dumps(payload)
    sent_at = sent_at or datetime.datetime.now(datetime.UTC)
    signature = svix.Webhook(secret).sign(msg_id, sent_at, body)
    return body.encode(), {
        "svix-id": msg_id,
        "svix-timestamp": str(int(sent_at.timestamp())),
        "svix-signature": signature,
    }


def hostaway_reservation(
    *,
    arrival: datetime.date,
    departure: datetime.date,
    updated_on: datetime.datetime,
    event: str = "reservation.created",
    status: str = "new",
    listing_id: str = HOSTAWAY_LISTING_ID,
) -> dict:
    return {
        "object": "reservation",
        "event": event,
        "accountId": 10101,
        "data": {
            "id": HOSTAWAY_RESERVATION_ID,
            "listingMapId": int(listing_id) if listing_id.isdigit() else listing_id,
            "channelId": 2000,
            "channelName": "direct",
            "reservationId": f"{HOSTAWAY_RESERVATION_ID}-2000",
            "guestName": "Pieter Aalders",
            "guestFirstName": "Pieter",
            "guestLastName": "Aalders",
            "guestEmail": "pieter@example.com",
            "phone": "+31 6 1234 5678",
            "numberOfGuests": 2,
            "arrivalDate": arrival.isoformat(),
            "departureDate": departure.isoformat(),
            "checkInTime": 16,
            "checkOutTime": 10,
            "status": status,
            "insertedOn": "2026-11-01 09:00:00",
            "updatedOn": updated_on.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S"),
        },
    }


def hostaway_auth(login: str = HOSTAWAY_LOGIN, password: str = HOSTAWAY_PASSWORD) -> dict:
    token = base64.b64encode(f"{login}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}
