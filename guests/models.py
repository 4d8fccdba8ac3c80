from __future__ import annotations

import secrets

from django.db import models

from reservations.models import Reservation


def new_key() -> str:
    return secrets.token_urlsafe(24)


class GuestLink(models.Model):
    """A reservation's private guest page link. The link carries the reservation and this
    key, signed with the server's secret; regenerating the key revokes every link sent
    before (see guests.links)."""

    reservation = models.OneToOneField(
        Reservation, on_delete=models.CASCADE, related_name="guest_link"
    )
    key = models.CharField(max_length=64, default=new_key, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    regenerated_at = models.DateTimeField(null=True, blank=True, editable=False)

    def __str__(self) -> str:
        return f"Guest link of {self.reservation}"
