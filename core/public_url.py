"""Where Keystay's own pages are, for links that leave the request: emails, webhook URLs to
paste into another system."""

from __future__ import annotations

from django.conf import settings


def absolute_url(path: str, *, request=None) -> str:
    """`path` on KEYSTAY_PUBLIC_URL when it is set, else on the address of the request at
    hand, else the bare path (a worker has no request to take an address from)."""
    base = settings.KEYSTAY_PUBLIC_URL.rstrip("/")
    if base:
        return f"{base}{path}"
    return request.build_absolute_uri(path) if request is not None else path
