"""Seam SDK client construction, with a transport that sends every write as POST.

The typed SDK sends some writes as PATCH (``update``), DELETE with query
parameters (``delete``) and PUT (``create_multiple``). Seam's API accepts POST
with a JSON body on all of those routes, while Seam's fake server used in tests
accepts only POST there. Sending POST everywhere lets one code path work
against both.

The transport also notes each answer's Retry-After (the SDK's errors keep no
headers), so that a rate-limited call can say when to come back, and sends every request
through Keystay's outbound guard (`core.outbound.OriginTransport`): the server's name is
resolved and checked before each request, and the connection goes to the checked address.
"""

from __future__ import annotations

import datetime
import email.utils
import json
from contextvars import ContextVar
from typing import Any

import httpx
from seam import Seam

from core import outbound

from . import endpoints

_REWRITTEN_METHODS = frozenset({"PUT", "PATCH", "DELETE"})
# Every list-valued query parameter of the SDK's DELETE routes is named
# ``*_ids`` or ``*_keys`` (e.g. ``spaces.remove_devices(device_ids=...)``); a
# one-element list is indistinguishable from a string in a query string.
_LIST_PARAM_SUFFIXES = ("_ids", "_keys")
# Added by the SDK's query serializer; meaningless in a JSON body.
_QUERY_ONLY_PARAMS = frozenset({"_strict"})


def _query_to_json(params: httpx.QueryParams) -> dict[str, Any]:
    """Turn the SDK's query parameters back into the JSON values they came from.

    The SDK's DELETE routes only take strings and lists of strings, so no
    number or boolean parsing is needed.
    """
    body: dict[str, Any] = {}
    for name in params:
        if name in _QUERY_ONLY_PARAMS:
            continue
        values = [value for value in params.get_list(name) if value != ""]
        if name.endswith(_LIST_PARAM_SUFFIXES) or len(values) > 1:
            body[name] = values
        elif values:
            body[name] = values[0]
    return body


def as_post(request: httpx.Request) -> httpx.Request:
    """Return ``request`` as a POST with its parameters in a JSON body.

    Requests other than PUT/PATCH/DELETE are returned unchanged. Query
    parameters are merged into the body (the body wins on a clash).
    """
    if request.method not in _REWRITTEN_METHODS:
        return request

    content = request.read()
    body: dict[str, Any] = _query_to_json(request.url.params)
    if content:
        payload = json.loads(content)
        if not isinstance(payload, dict):
            raise ValueError(
                f"Cannot rewrite {request.method} {request.url.path}: body is not an object"
            )
        body.update(payload)

    headers = httpx.Headers(request.headers)
    for name in ("content-length", "content-type", "transfer-encoding"):
        headers.pop(name, None)
    return httpx.Request(
        "POST",
        request.url.copy_with(query=None),
        headers=headers,
        json=body,
        extensions=request.extensions,
    )


def parse_retry_after(value: str | None, *, now: datetime.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        seconds = (when - (now or datetime.datetime.now(datetime.UTC))).total_seconds()
    return max(seconds, 0.0) if seconds == seconds else None  # NaN is no answer


# Per thread (and per asyncio task): the SDK is synchronous here, so the answer a call
# raised from is the last one its own thread received.
_retry_after: ContextVar[float | None] = ContextVar("seam_retry_after", default=None)


def last_retry_after() -> float | None:
    """The Retry-After, in seconds, of this thread's last answer if it was a 429."""
    return _retry_after.get()


class SeamPostTransport(httpx.BaseTransport):
    """Sends PUT/PATCH/DELETE as POST + JSON body, to one Seam origin, through the guard."""

    def __init__(self, endpoint: str):
        self._guarded = outbound.OriginTransport(
            endpoint, private_allowed=endpoints.may_be_private(endpoint)
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        _retry_after.set(None)
        response = self._guarded.handle_request(as_post(request))
        # Set on every answer, so a 429 without the header never shows a stale value.
        retry_after = response.headers.get("retry-after") if response.status_code == 429 else None
        _retry_after.set(parse_retry_after(retry_after))
        return response

    def close(self) -> None:
        self._guarded.close()


def make_seam_client(*, api_key: str, endpoint: str | None = None, timeout: float = 10.0) -> Seam:
    """Build the Seam SDK client Keystay uses, for `endpoint` (Seam's own API when empty).

    No retries here: passing a custom transport turns off the SDK's retry wrapper,
    and on purpose. A retry inside the call would sleep in the worker (a 429 can
    ask for minutes) while every other lock waits; a failed call instead leaves
    as a ProviderError, and Keystay's own scheduling tries again later.
    """
    endpoint = endpoints.effective_endpoint(endpoint)
    return Seam(
        api_key=api_key,
        endpoint=endpoint,
        timeout=timeout,
        httpx_options={
            "transport": SeamPostTransport(endpoint),
            # Never follow a redirect: the endpoint was checked, where it points to was not.
            "follow_redirects": False,
            # Nothing from the environment (.netrc credentials, proxies): the request goes
            # as built here, to the address the guard checked.
            "trust_env": False,
        },
    )
