"""Reads about organizations and their people that other apps share."""

from __future__ import annotations

from .models import Membership


def manager_emails(*, organization_id: int) -> list[str]:
    """The addresses of an organization's active managers, sorted, each once: whom Keystay
    tells when something needs a person (a lock failing before an arrival, a feed)."""
    return sorted(
        set(
            Membership.objects.filter(
                organization_id=organization_id,
                role=Membership.Role.MANAGER,
                user__is_active=True,
            )
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
    )
