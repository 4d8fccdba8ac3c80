"""What every PMS adapter gives the rest of the app: small types of Keystay's own.

An adapter verifies a request the way its PMS documents it, names the delivery (for
dedupe) and turns the payload into a `Booking`, or says why it is not one (`Skip`).
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from typing import Protocol


class Refused(Exception):
    """The request is not the PMS's (bad or missing signature or credential)."""


class Skip(Exception):
    """A genuine delivery that holds no booking Keystay keeps (an event of another kind,
    an owner's stay, an inquiry…): recorded as ignored, with this reason."""


class Unreadable(Exception):
    """A genuine delivery that cannot be read as a booking (a field missing or malformed)."""


@dataclass(frozen=True)
class Booking:
    external_id: str
    listing_external_id: str
    # A date alone takes the listing's own check-in/out time (as in the REST API).
    check_in: datetime.datetime | datetime.date
    check_out: datetime.datetime | datetime.date
    status: str  # "pending", "confirmed" or "cancelled" (Keystay's statuses)
    updated_at: datetime.datetime  # the PMS's own instant of this version
    event: str
    guest_name: str = ""
    guest_email: str = ""
    guest_phone: str = ""
    guest_id: str = ""  # the PMS's guest id, for adapters that fetch contact details


@dataclass(frozen=True)
class Contact:
    name: str = ""
    email: str = ""
    phone: str = ""


class Adapter(Protocol):
    kind: str
    label: str
    # What the manager pastes where: shown on the connection page.
    instructions: str

    def verify(self, *, connection, headers: dict[str, str], body: bytes) -> None:
        """Raise Refused unless the request is the PMS's."""

    def delivery_key(self, *, headers: dict[str, str], body: bytes) -> str:
        """The PMS's id of this delivery, or a hash of the body."""

    def parse(self, payload: dict) -> Booking:
        """The booking a payload carries; raises Skip or Unreadable."""

    def fetch_contact(self, *, connection, booking: Booking) -> Contact | None:
        """The guest's contact details where the payload leaves them out and the
        connection can ask the PMS; None when it cannot."""


def body_hash(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def text(value, *, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def parse_instant(value, *, field: str) -> datetime.datetime:
    if not isinstance(value, str) or not value:
        raise Unreadable(f"`{field}` is missing.")
    try:
        instant = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise Unreadable(f"`{field}` is not a date and time: {value[:40]!r}.") from error
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=datetime.UTC)
    return instant


def parse_date(value, *, field: str) -> datetime.date:
    if not isinstance(value, str) or not value:
        raise Unreadable(f"`{field}` is missing.")
    try:
        return datetime.date.fromisoformat(value[:10])
    except ValueError as error:
        raise Unreadable(f"`{field}` is not a date: {value[:40]!r}.") from error
