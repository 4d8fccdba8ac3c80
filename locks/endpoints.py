"""Which Seam servers Keystay may call: the one check of every provider endpoint.

A connection's endpoint is typed by a manager, and the server then calls it and shows
parts of its answer: without this check, a manager could make Keystay call any address
its network reaches (an internal service, a cloud metadata address). Only whole origins
listed in `SEAM_ALLOWED_ENDPOINTS` are called: scheme, host and port compared after
normalisation, never a string prefix.

This list is the provider side of the one rule for outgoing requests, and the guard of
every request (`core.outbound`) enforces the rest: each call resolves the server's name,
checks every address and connects to the checked one. The list decides whether that address
may be on a private network (`may_be_private`): an origin listed by its address is the
operator's own server (a self-hosted or test server, the tests' fake Seam on 127.0.0.1); an
origin listed by name must resolve to public addresses unless the deployment allows private
ones (KEYSTAY_OUTBOUND_ALLOW_PRIVATE). Link-local and metadata addresses are never called.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.core.exceptions import ValidationError

from core import outbound

# Where Seam's SDK sends requests when no endpoint is given.
DEFAULT_ENDPOINT = "https://connect.getseam.com"
# One reading of an origin for the allowed list and for the guard that makes the calls.
Origin = outbound.Origin
origin = outbound.origin


def allowed_origins() -> set[Origin]:
    found = {origin(url) for url in settings.SEAM_ALLOWED_ENDPOINTS}
    found.discard(None)
    return found


def effective_endpoint(endpoint: str | None) -> str:
    """The server a connection reaches: an empty endpoint means Seam's own API. Sent to the
    SDK explicitly, so that its environment variables cannot pick another server."""
    return endpoint or DEFAULT_ENDPOINT


def endpoint_allowed(endpoint: str | None) -> bool:
    found = origin(effective_endpoint(endpoint))
    return found is not None and found in allowed_origins()


def may_be_private(endpoint: str) -> bool:
    """Whether the server at `endpoint` may be on a loopback or private network: yes when
    its origin names an address (the operator wrote that address down when listing it), or
    when the deployment allows private addresses; a name must resolve to public ones."""
    found = origin(endpoint)
    if found is None:
        return False
    try:
        ipaddress.ip_address(found[1].strip("[]"))
    except ValueError:
        return outbound.allow_private()
    return True


NOT_ALLOWED = (
    "Keystay does not call this server. Leave the endpoint empty for Seam's API; another "
    "server must be listed in SEAM_ALLOWED_ENDPOINTS by whoever runs Keystay."
)


def is_demo_fake(endpoint: str | None) -> bool:
    """Whether `endpoint` is the Seam fake server that `make run` started for the demo.

    Only `make run` names it (SEAM_FAKE_ENDPOINT, read by the local settings alone): a
    production server never takes a connection for the fake, and a real provider's failure
    is never explained away as the demo's.
    """
    fake = getattr(settings, "SEAM_FAKE_ENDPOINT", "")
    if not fake or not endpoint:
        return False
    found = origin(endpoint)
    return found is not None and found == origin(fake)


# What the demo says on an entrance instead of failing at it every few minutes.
DEMO_ENTRANCE_CODES = (
    "This provider's demo server cannot take entrance codes: guests' codes go on the "
    "listing's PIN locks only. With a real Seam workspace they go on this entrance too."
)


def validate_endpoint(value: str) -> None:
    """The form and API validator of a connection's endpoint."""
    if value and not endpoint_allowed(value):
        raise ValidationError(NOT_ALLOWED, code="endpoint_not_allowed")
