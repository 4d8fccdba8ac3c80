"""The private guest page link of a reservation: unguessable, signed, revocable.

The token is the reservation's id and its link's random key, signed with the server's
secret (Django's signing, its own salt): a guessed or edited token fails the signature;
regenerating the key makes every earlier link show nothing.
"""

from __future__ import annotations

from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from core.public_url import absolute_url
from reservations.models import Reservation

from .models import GuestLink, new_key

SALT = "keystay.guests.link"


def link_for(reservation: Reservation) -> GuestLink:
    link, _ = GuestLink.objects.get_or_create(reservation=reservation)
    return link


def token_for(reservation: Reservation) -> str:
    link = link_for(reservation)
    return signing.dumps([reservation.pk, link.key], salt=SALT, compress=True)


def guest_path(reservation: Reservation) -> str:
    return reverse("guest_page", args=[token_for(reservation)])


def guest_url(reservation: Reservation, request=None) -> str:
    """The absolute link to send the guest: KEYSTAY_PUBLIC_URL, else the address of the
    request at hand, else the bare path."""
    return absolute_url(guest_path(reservation), request=request)


def reservation_for_token(token: str) -> Reservation | None:
    """The reservation a token opens, or None (tampered, malformed, or revoked)."""
    try:
        reservation_id, key = signing.loads(token, salt=SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(reservation_id, int) or not isinstance(key, str):
        return None
    link = (
        GuestLink.objects.select_related(
            "reservation__listing__property", "reservation__organization"
        )
        .filter(reservation_id=reservation_id)
        .first()
    )
    if link is None or not constant_time_compare(link.key, key):
        return None
    return link.reservation


@transaction.atomic
def link_regenerate(*, reservation: Reservation) -> GuestLink:
    """A new key: every link sent before shows nothing from now on."""
    link = link_for(reservation)
    link.key = new_key()
    link.regenerated_at = timezone.now()
    link.save(update_fields=["key", "regenerated_at"])
    return link
