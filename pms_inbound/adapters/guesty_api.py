"""Guesty's Open API, read for one thing: the guest's contact details, which the v2
reservation webhooks leave out ("lean payloads").

Every request goes through Keystay's outbound guard (core.outbound). Guesty issues few
access tokens a day per client (its docs ask integrators to reuse one until it expires),
so the token is kept in the cache until shortly before its end. Requests per connection
are counted in the cache (GUESTY_API_RATE_PER_MINUTE); over it, or on a 429/5xx/network
error, `GuestyUnavailable` asks the caller to try again later (the delivery is retried).
"""

from __future__ import annotations

import json
import urllib.parse

import httpx
from django.conf import settings
from django.core.cache import cache

from core import outbound

from .base import Contact

TOKEN_MARGIN_SECONDS = 300


class GuestyUnavailable(Exception):
    """Guesty cannot answer now (rate limit, outage, network): try again later."""


class GuestyRefused(Exception):
    """Guesty refused the credentials or the request: retrying will not help."""


def _base_url() -> str:
    return settings.GUESTY_API_URL.rstrip("/")


def _take_slot(connection_id: int) -> None:
    key = f"pms_inbound:guesty-rate:{connection_id}"
    cache.add(key, 0, timeout=60)
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=60)
        used = 1
    if used > settings.GUESTY_API_RATE_PER_MINUTE:
        raise GuestyUnavailable("Keystay's own limit of requests to Guesty per minute.")


def _send(connection_id: int, method: str, url: str, **kwargs) -> outbound.Answer:
    _take_slot(connection_id)
    try:
        answer = outbound.send(method, url, **kwargs)
    except outbound.OutboundRefused as error:
        raise GuestyRefused(f"Keystay does not call this address: {error.message}") from error
    except (OSError, httpx.HTTPError) as error:
        raise GuestyUnavailable(f"Guesty did not answer: {type(error).__name__}.") from error
    if answer.status_code == 429 or answer.status_code >= 500:
        raise GuestyUnavailable(f"Guesty answered {answer.status_code}.")
    return answer


def _token(connection) -> str:
    key = f"pms_inbound:guesty-token:{connection.pk}:{connection.api_client_id}"
    token = cache.get(key)
    if token:
        return token
    form = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "scope": "open-api",
            "client_id": connection.api_client_id,
            "client_secret": connection.api_client_secret,
        }
    ).encode()
    answer = _send(
        connection.pk,
        "POST",
        f"{_base_url()}/oauth2/token",
        content=form,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
    )
    if not answer.ok:
        raise GuestyRefused(f"Guesty refused the API credentials ({answer.status_code}).")
    try:
        data = json.loads(answer.body)
        token = str(data["access_token"])
        expires_in = int(data.get("expires_in", 3600))
    except (ValueError, KeyError, TypeError) as error:
        raise GuestyUnavailable("Guesty's token answer was unreadable.") from error
    cache.set(key, token, timeout=max(expires_in - TOKEN_MARGIN_SECONDS, 60))
    return token


def guest_contact(connection, guest_id: str) -> Contact:
    """The guest's name, email and phone from GET /v1/guests/{id}."""
    token = _token(connection)
    answer = _send(
        connection.pk,
        "GET",
        f"{_base_url()}/v1/guests/{urllib.parse.quote(guest_id, safe='')}",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    if answer.status_code == 401:
        cache.delete(f"pms_inbound:guesty-token:{connection.pk}:{connection.api_client_id}")
        raise GuestyUnavailable("Guesty's token expired; a new one is asked for next time.")
    if not answer.ok:
        raise GuestyRefused(f"Guesty answered {answer.status_code} for the guest.")
    try:
        data = json.loads(answer.body)
    except ValueError as error:
        raise GuestyUnavailable("Guesty's guest answer was unreadable.") from error
    if not isinstance(data, dict):
        raise GuestyUnavailable("Guesty's guest answer was unreadable.")
    emails = data.get("emails") if isinstance(data.get("emails"), list) else []
    phones = data.get("phones") if isinstance(data.get("phones"), list) else []
    email = data.get("email") or (emails[0] if emails else "")
    phone = data.get("phone") or (phones[0] if phones else "")
    name = data.get("fullName") or " ".join(
        part for part in (data.get("firstName"), data.get("lastName")) if isinstance(part, str)
    )
    return Contact(
        name=name[:200] if isinstance(name, str) else "",
        email=email[:254] if isinstance(email, str) else "",
        phone=phone[:32] if isinstance(phone, str) else "",
    )
