"""How a receiver knows a delivery is Keystay's: HMAC-SHA256 over "<timestamp>.<body>".

    Keystay-Signature: t=1718000000,v1=5257a869e7ec…(64 hex digits)

`t` is when the attempt was signed (Unix seconds); each `v1` is the hex HMAC-SHA256 of the
bytes `t`, ".", and the raw body, keyed with the endpoint's secret (the whole `whsec_…`
string, UTF-8). Right after a rotation there are two `v1` values, one per secret, until the
previous secret expires: a receiver accepts the delivery when any of them matches its secret.
The timestamp lets a receiver refuse an old delivery replayed (5 minutes is usual).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SIGNATURE_HEADER = "Keystay-Signature"
SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 300


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(signing_secrets: list[str], timestamp: int, body: bytes) -> str:
    parts = [f"t={timestamp}"] + [f"v1={signature(s, timestamp, body)}" for s in signing_secrets]
    return ",".join(parts)


def verify(
    secret: str,
    header: str,
    body: bytes,
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """What a receiver does (the README shows the same in a few lines)."""
    timestamp, candidates = None, []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isascii() and value.isdigit() and len(value) < 19:
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
