"""Seam SDK client construction, with a transport that sends every write as POST.

The typed SDK sends some writes as PATCH (``update``), DELETE with query
parameters (``delete``) and PUT (``create_multiple``). Seam's API accepts POST
with a JSON body on all of those routes, while Seam's fake server used in tests
accepts only POST there. Sending POST everywhere lets one code path work
against both.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from httpx_retries import RetryTransport
from seam import Seam
from seam.client import DEFAULT_RETRIES

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


class SeamPostTransport(httpx.HTTPTransport):
    """The default httpx transport, sending PUT/PATCH/DELETE as POST + JSON body."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return super().handle_request(as_post(request))


def make_seam_client(*, api_key: str, endpoint: str | None = None, timeout: float = 10.0) -> Seam:
    """Build the Seam SDK client Keystay uses.

    Passing a custom transport turns off the SDK's own retry wrapper, so it is
    wrapped again here with the SDK's default policy (GET/PUT/DELETE retried
    twice on 429/5xx, never POST). The retry layer sits outside the rewrite, so
    it still sees the SDK's original method: a ``create`` is never retried,
    a ``delete`` is.
    """
    transport = RetryTransport(transport=SeamPostTransport(), retry=DEFAULT_RETRIES)
    return Seam(
        api_key=api_key,
        endpoint=endpoint,
        timeout=timeout,
        # Never follow a redirect: the endpoint was checked, where it points to was not.
        httpx_options={"transport": transport, "follow_redirects": False},
    )
