"""Who sent a request: the one rule every limit, lock-out and log line uses.

Behind proxies (KEYSTAY_NUM_PROXIES of them) the last proxy's address is REMOTE_ADDR and
the client's is the entry that many places from the right of X-Forwarded-For: every proxy
appends the address it received the request from, while the entries to their left are
whatever the client chose to send (and so cannot be trusted).

The setting must match the deployment, and only part of a mismatch can be seen: too few
proxies counted and every client behind the proxy shares its address (one limit for all);
too many, or a proxy counted that is not there, and a client picks its own address with
the header. `manage.py check --deploy` compares it with the other proxy settings
(core.checks); at run time a request with fewer entries than proxies counted is logged,
once per process, as a sign that no proxy (or fewer) stands in front.
"""

from __future__ import annotations

import logging

from django.conf import settings

logger = logging.getLogger(__name__)

_warned_short_header = False


def client_ip(request) -> str:
    """The address of whoever sent the request, by the rule above."""
    proxies = settings.KEYSTAY_NUM_PROXIES
    if proxies > 0:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) < proxies:
            _warn_short_header(len(forwarded), proxies)
        if forwarded:
            return forwarded[-min(proxies, len(forwarded))]
    return request.META.get("REMOTE_ADDR", "")


def _warn_short_header(entries: int, proxies: int) -> None:
    global _warned_short_header
    if _warned_short_header:
        return
    _warned_short_header = True
    # Once per process: on a misconfigured server every request would say it again. No
    # address in the line: the count is the evidence.
    logger.warning(
        "A request came with %d X-Forwarded-For entries, fewer than KEYSTAY_NUM_PROXIES=%d: "
        "fewer proxies than that stand in front of Keystay, and a client can choose the "
        "address its rate limits count. Set KEYSTAY_NUM_PROXIES to the number of proxies "
        "that append to X-Forwarded-For (0 for none); see docs/security.md.",
        entries,
        proxies,
    )
