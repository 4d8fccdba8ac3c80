"""A fixed-window request counter in Django's cache, shared by every process that shares
the cache (Redis when REDIS_URL is set; one process's memory otherwise).

The guest page is the one page anyone may open without signing in, so a guesser could
hammer it; each client address (and each link) gets a number of requests per window.
Password-reset emails are counted the same way, per client and per address.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass

from django.core.cache import cache

logger = logging.getLogger(__name__)

PERIODS = {"second": 1, "minute": 60, "hour": 3600}


@dataclass(frozen=True)
class Rate:
    limit: int
    period: int  # seconds

    @classmethod
    def parse(cls, text: str) -> Rate:
        """ "30/minute" → 30 requests a minute."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(second|minute|hour)\s*", text)
        if not match:
            raise ValueError(f"A rate reads like 30/minute, not {text!r}.")
        return cls(limit=int(match[1]), period=PERIODS[match[2]])


def _digest(value: str) -> str:
    # Keys stay short and say nothing of a link or an address to whoever reads the cache.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def hit(scope: str, value: str, rate: Rate, *, now: float | None = None) -> int | None:
    """Count one request for `value` in `scope`; how many seconds to wait when it is one
    too many, else None.

    The window's number is part of the key: a counter belongs to one window only, so a key
    that somehow lost its expiry can never hold a client back after its window.
    """
    now = time.time() if now is None else now
    window = int(now // rate.period)
    key = f"keystay:ratelimit:{scope}:{_digest(value)}:{window}"
    timeout = rate.period + 60
    try:
        # add() creates the counter only if no process has yet; incr() is atomic in Redis
        # (and under a lock in the local-memory cache), so concurrent requests each count.
        cache.add(key, 0, timeout=timeout)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between the two calls
            cache.add(key, 1, timeout=timeout)
            count = 1
    except Exception:
        # The cache is down: the guest still gets their page (a guest locked out of their
        # door is worse than a guesser slowed down less), and the error is logged.
        logger.exception("Rate limit not applied: the cache is unavailable")
        return None
    if count > rate.limit:
        return max(1, int((window + 1) * rate.period - now) + 1)
    return None
