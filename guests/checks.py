"""Deployment checks of guest messages (`manage.py check --deploy`)."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.compatibility, deploy=True)
def public_url_for_guest_links(app_configs, **kwargs):
    """Guest messages sent by the cluster have no request to take an address from: their
    link to the guest page is absolute only with KEYSTAY_PUBLIC_URL."""
    if settings.KEYSTAY_PUBLIC_URL:
        return []
    return [
        Warning(
            "KEYSTAY_PUBLIC_URL is empty: the guest page link in scheduled guest messages "
            "would be a bare path the guest cannot open.",
            hint="Set KEYSTAY_PUBLIC_URL to Keystay's public address, "
            "e.g. https://keystay.example.com.",
            id="guests.W001",
        )
    ]
