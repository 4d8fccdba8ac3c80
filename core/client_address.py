"""Who sent a request: the one rule every limit, lock-out and log line uses.

Behind proxies (KEYSTAY_NUM_PROXIES of them) the last proxy's address is REMOTE_ADDR and
the client's is the entry that many places from the right of X-Forwarded-For: every proxy
appends the address it received the request from, while the entries to their left are
whatever the client chose to send (and so cannot be trusted).
"""

from __future__ import annotations

from django.conf import settings


def client_ip(request) -> str:
    """The address of whoever sent the request, by the rule above."""
    proxies = settings.KEYSTAY_NUM_PROXIES
    if proxies > 0:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if forwarded:
            return forwarded[-min(proxies, len(forwarded))]
    return request.META.get("REMOTE_ADDR", "")
