"""The one door to Seam. Everything else in Keystay talks to this module, never to `seam`.

It turns SDK objects into Keystay's own small types and every SDK or HTTP failure into a
ProviderError that says what happened in words a property manager understands, and
whether trying again later can help.
"""

from __future__ import annotations

import datetime
import json
import math
from dataclasses import dataclass, field
from typing import Any

import httpx
import svix
from seam import Seam
from seam.auth import SeamInvalidTokenError
from seam.exceptions import (
    SeamHttpApiError,
    SeamHttpInvalidInputError,
    SeamHttpInvalidResponseError,
    SeamHttpUnauthorizedError,
)
from seam.resources.access_code import AccessCode

from core import outbound

from . import endpoints
from .providers import KNOWN_PROVIDERS
from .seam_transport import last_retry_after, make_seam_client, parse_retry_after

# Seam preloads time-bound codes and the lock enforces the window on these providers
# ("native scheduling" in Seam's documentation); elsewhere Seam adds and removes the code
# itself around the window.
NATIVE_SCHEDULING_MANUFACTURERS = frozenset(
    {"august", "schlage", "yale", "kwikset", "nuki", "salto", "ttlock", "2n", "igloohome"}
)


def _known(value: str | None, placeholder: str) -> str:
    return "" if not value or value.strip().lower() == placeholder else value


def _brand(display_name: str | None, manufacturer: str) -> str:
    """The lock's brand: Seam's display name unless it is its placeholder "Generic", else
    the manufacturer Seam names in the device's properties ("august" → "August")."""
    shown = _known(display_name, "generic")
    if shown:
        return shown
    return KNOWN_PROVIDERS.get(manufacturer, manufacturer.replace("_", " ").title())


# Seam error codes that mean "this code cannot go on this lock as it is".
CODE_REFUSALS = {
    "duplicate_access_code": "The lock already holds this code in an overlapping period.",
    "duplicate_code_on_device": "The lock already holds this code.",
    "code_constraints_violated": "The lock refused this code (its code rules).",
    "no_space_for_access_code_on_device": "The lock has no room for another code.",
}
# Of those, the ones that say the lock already holds these digits: the caller may pick
# other digits (or adopt the code it finds), which it cannot do for the other refusals.
DUPLICATE_CODES = frozenset({"duplicate_access_code", "duplicate_code_on_device"})


class ProviderError(Exception):
    """A failed call to the lock provider.

    kind: "unauthorized" (the key was refused), "invalid" (the request was refused),
    "duplicate" (the lock already holds this code), "rate_limited" (retry_after: the
    seconds Seam asked to wait, when it said), "unavailable" (outage, timeout, network),
    "not_found", "error" (anything else).
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        code: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.code = code
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """The same call may succeed later, unchanged."""
        return self.kind in {"rate_limited", "unavailable"}

    @property
    def refused(self) -> bool:
        """Seam refused this request as it is: sending it again cannot help."""
        return self.kind in {"invalid", "duplicate"}


@dataclass(frozen=True)
class ProviderCode:
    """A code as the provider holds it (a lock's access code or an ACS credential).

    errors and warnings hold Seam's error and warning codes (e.g.
    "failed_to_set_on_device", "code_modified_external_to_seam").
    """

    provider_id: str
    code: str
    name: str = ""
    starts_at: datetime.datetime | None = None
    ends_at: datetime.datetime | None = None
    status: str = ""
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    device_id: str = ""
    is_managed: bool = True
    is_external_modification_allowed: bool = False
    # What Seam is still pushing to the lock ("creating", "deferring_creation", "deleting",
    # "updating_code", "updating_name", "updating_time_frame"): a code in the middle of a
    # change is not drift.
    pending_mutations: tuple[str, ...] = ()


def seam_time(value: datetime.datetime) -> str:
    """Seam takes ISO 8601 strings; send UTC to the second."""
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class WorkspaceInfo:
    workspace_id: str
    name: str
    is_sandbox: bool


@dataclass(frozen=True)
class DeviceInfo:
    provider_device_id: str
    kind: str  # Device.Kind values: "lock" or "acs_entrance"
    name: str
    provider_system_id: str = ""
    manufacturer: str = ""
    model: str = ""
    online: bool = True
    battery_level: float | None = None
    supported_code_lengths: list[int] = field(default_factory=list)
    code_constraints: list[dict[str, Any]] = field(default_factory=list)
    max_active_codes: int | None = None
    supports_native_scheduling: bool = True
    can_specify_pin_code: bool = True
    supports_backup_access_code_pool: bool = False
    # The provider account the device came through (tells an account's brand).
    provider_account_id: str = ""
    # Seam's warnings on the device, e.g. third_party_integration_detected (another
    # integration manages the lock): [{"warning_code": ..., "message": ...}].
    provider_warnings: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class AccountInfo:
    provider_account_id: str
    account_type: str
    display_name: str
    user_identifier: str
    errors: list[dict[str, Any]]


@dataclass(frozen=True)
class WebviewInfo:
    provider_webview_id: str
    url: str
    status: str
    provider_account_id: str
    accepted_providers: list[str]


def _rate_limited(status: int, code: str, retry_after: float | None) -> ProviderError:
    when = f"in {retry_after:.0f} s" if retry_after is not None else "in a minute"
    return ProviderError(
        "rate_limited",
        f"Seam's rate limit was reached; Keystay will try again {when}.",
        code=code,
        status=status,
        retry_after=retry_after,
    )


def _translate(error: Exception) -> ProviderError:
    if isinstance(error, SeamInvalidTokenError | SeamHttpUnauthorizedError):
        return ProviderError("unauthorized", "Seam refused the API key.", code="unauthorized")
    if isinstance(error, SeamHttpInvalidInputError):
        return ProviderError("invalid", f"Seam refused the request: {error}", code="invalid_input")
    if isinstance(error, SeamHttpApiError):
        status, code = error.status_code, error.code or ""
        if status == 429:
            # The SDK's error keeps no headers; the transport noted this answer's.
            return _rate_limited(status, code, last_retry_after())
        if status == 404:
            return ProviderError(
                "not_found", f"Seam has no such object: {error}", code=code, status=status
            )
        if code in CODE_REFUSALS:
            kind = "duplicate" if code in DUPLICATE_CODES else "invalid"
            return ProviderError(kind, CODE_REFUSALS[code], code=code, status=status)
        if status in (401, 403) or code in {"missing_workspace_id", "unauthorized"}:
            return ProviderError(
                "unauthorized", "Seam refused the API key.", code=code, status=status
            )
        if status >= 500:
            return ProviderError(
                "unavailable",
                "Seam is unavailable right now; Keystay will try again.",
                code=code,
                status=status,
            )
        return ProviderError("error", f"Seam answered: {error}", code=code, status=status)
    if isinstance(error, httpx.HTTPStatusError):
        status = error.response.status_code
        if status == 429:
            return _rate_limited(
                status, "", parse_retry_after(error.response.headers.get("retry-after"))
            )
        if status >= 500:
            return ProviderError(
                "unavailable", f"Seam is unavailable right now (HTTP {status}).", status=status
            )
        if status in (401, 403):
            return ProviderError("unauthorized", "Seam refused the API key.", status=status)
        if status == 404:
            # A bare 404 (no Seam error body): the route itself is missing on this server.
            return ProviderError(
                "error",
                f"This Seam server does not support {error.request.url.path} (HTTP 404).",
                status=status,
            )
        return ProviderError("error", f"Seam answered HTTP {status}.", status=status)
    if isinstance(error, outbound.OutboundRefused):
        # The server's name now resolves somewhere Keystay does not call (a DNS change or a
        # misconfiguration): nothing was sent. Tried again later, and shown until it clears.
        return ProviderError(
            "unavailable",
            f"Seam was not called. {error.message}",
            code="address_refused",
        )
    if isinstance(error, httpx.TimeoutException):
        return ProviderError("unavailable", "Seam did not answer in time.")
    if isinstance(error, httpx.TransportError):
        return ProviderError("unavailable", f"Seam could not be reached ({error}).")
    if isinstance(error, OSError):  # the guard's own lookup of the server's name failed
        return ProviderError(
            "unavailable", f"Seam could not be reached: its server name did not resolve ({error})."
        )
    return ProviderError("error", f"Unexpected error from Seam: {error}")


def _field(obj: Any, name: str, default: Any = None) -> Any:
    """Read a property from an SDK object or a dict (the SDK uses both)."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _constraints(raw: Any) -> list[dict[str, Any]]:
    result = []
    for item in raw or []:
        entry = {"constraint_type": _field(item, "constraint_type")}
        for bound in ("min_length", "max_length"):
            if _field(item, bound) is not None:
                entry[bound] = _field(item, bound)
        result.append(entry)
    return result


# Listings are read page by page (limit + page_cursor) to the end: a device, account or
# code missing from a half-read listing would look removed at the provider.
LIST_PAGE_SIZE = 500
LIST_MAX_PAGES = 1000  # a server that never stops paginating is an error, not a hang

EVENTS_PAGE_SIZE = 500
EVENTS_MAX_REQUESTS = 64
EVENTS_MIN_INTERVAL = datetime.timedelta(seconds=1)
EVENTS_BOUNDARY_OVERLAP = datetime.timedelta(milliseconds=1)


def _warnings(raw: Any) -> list[dict[str, str]]:
    """Seam's warnings as code and message only: their instants would make every import
    see a change."""
    found = []
    for warning in raw or []:
        code = _field(warning, "warning_code") or ""
        if code:
            found.append({"warning_code": code, "message": (_field(warning, "message") or "")})
    return sorted(found, key=lambda w: w["warning_code"])


def _seam_time_ms(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class EventInfo:
    """A Seam event, as much of it as Keystay reads. `payload` holds no code digits."""

    event_id: str
    event_type: str
    created_at: datetime.datetime
    occurred_at: datetime.datetime
    workspace_id: str = ""
    device_id: str = ""
    access_code_id: str = ""
    access_code_is_managed: bool | None = None
    method: str = ""
    battery_level: float | None = None
    battery_status: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    # The digits entered, when the provider reports them: for attribution only, never
    # stored, logged or shown.
    code: str = field(default="", repr=False)


@dataclass(frozen=True)
class EventBatch:
    events: list[EventInfo]
    complete_until: datetime.datetime  # every event created before this was listed


@dataclass(frozen=True)
class WebhookInfo:
    webhook_id: str
    url: str
    secret: str


class WebhookRejected(Exception):
    """A webhook delivery that is not provably Seam's: unsigned, tampered or stale."""


class UnreadableEvent(ValueError):
    """A payload that holds no event Keystay can read: not a Seam event, or a field of an
    unexpected type or size. Delivering it again brings the same: it is acknowledged and
    logged, never retried."""


# The webhook's name for it: a delivery signed by Seam that holds no readable event.
WebhookUnreadable = UnreadableEvent

# Keys that may carry a code's digits (an unlock event may report the code entered).
_SECRET_KEYS = frozenset({"code", "pin", "pin_code"})
_MAX_ID_LENGTH = 100  # Seam's ids are UUIDs; the event tables keep 100 characters


def _storable(text: str) -> str:
    """Text the databases accept: no NUL (PostgreSQL refuses it), no lone surrogate."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _scrub(value: Any) -> Any:
    """The stored copy of a payload: no code digits, and only values JSON columns accept
    (NaN and infinities become null, text is made storable) — it is never read back."""
    if isinstance(value, dict):
        return {_storable(str(k)): _scrub(v) for k, v in value.items() if k not in _SECRET_KEYS}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return _storable(value)
    return value


def _event_dict(event: Any) -> dict[str, Any]:
    """An SDK event (a dataclass, or a plain mapping for a type the SDK does not know)."""
    if isinstance(event, dict):
        return dict(event)
    names = getattr(event, "__dataclass_fields__", {})
    return {name: getattr(event, name) for name in names}


def _text(raw: dict[str, Any], name: str, *, max_length: int = _MAX_ID_LENGTH) -> str:
    """A string field; missing or null reads as "". Anything else is unreadable."""
    value = raw.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise UnreadableEvent(f"{name} is a {type(value).__name__}, not a string")
    if len(value) > max_length or _storable(value) != value:
        raise UnreadableEvent(f"{name} is not an id Keystay can store")
    return value


def _instant(raw: dict[str, Any], name: str) -> datetime.datetime | None:
    """An ISO 8601 instant field; missing or null reads as None. One without an offset is
    read as UTC, Seam's own zone."""
    text = _text(raw, name)
    if not text:
        return None
    try:
        value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise UnreadableEvent(f"{name} is not an ISO 8601 instant") from error
    return value if value.tzinfo is not None else value.replace(tzinfo=datetime.UTC)


def _battery(raw: dict[str, Any]) -> float | None:
    """Seam's battery level, a fraction from 0 to 1; missing or null reads as None."""
    name = "device_battery_level"
    if raw.get(name) is None:
        name = "battery_level"
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UnreadableEvent(f"{name} is a {type(value).__name__}, not a number")
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise UnreadableEvent(f"{name} is not a fraction from 0 to 1")
    return float(value)


def event_info(raw: Any) -> EventInfo:
    """Keystay's reading of a Seam event given as a dict (a webhook body, a listed event).

    Raises UnreadableEvent for anything that is not a Seam event as Keystay reads one:
    every field it uses is checked for its type here, so that nothing further along has to.
    """
    if not isinstance(raw, dict):
        raise UnreadableEvent(f"the event is a {type(raw).__name__}, not an object")
    event_id, event_type = _text(raw, "event_id"), _text(raw, "event_type")
    occurred = _instant(raw, "occurred_at")
    created = _instant(raw, "created_at") or occurred
    if created is None or not event_id or not event_type:
        raise UnreadableEvent("not a Seam event (no id, type or time)")
    managed = raw.get("access_code_is_managed")
    if managed is not None and not isinstance(managed, bool):
        raise UnreadableEvent("access_code_is_managed is not true or false")
    code = raw.get("code")
    if isinstance(code, bool) or not isinstance(code, str | int | None):
        raise UnreadableEvent("code is not digits")
    return EventInfo(
        event_id=event_id,
        event_type=event_type,
        created_at=created,
        occurred_at=occurred or created,
        workspace_id=_text(raw, "workspace_id"),
        device_id=_text(raw, "device_id"),
        access_code_id=_text(raw, "access_code_id"),
        access_code_is_managed=managed,
        method=_text(raw, "method"),
        battery_level=_battery(raw),
        battery_status=_text(raw, "battery_status"),
        payload=_scrub(raw),
        code=str(code or ""),
    )


def verify_webhook(*, secret: str, payload: bytes, headers: dict[str, str]) -> EventInfo:
    """Check a delivery's Svix signature (Seam signs its webhooks with Svix) and read the
    event it carries.

    Raises WebhookRejected for a missing or bad signature, a stale or future timestamp,
    or a secret that cannot verify anything (nothing in the request is trusted before);
    UnreadableEvent for a signed body that is not a Seam event Keystay can read. Svix parses
    the body only once the signature checked out, and Keystay reads the event itself
    (event_info) rather than through the SDK's event classes: whatever a signed body holds,
    it is read or found unreadable, never an error that would have Svix retry it.
    """
    try:
        raw = svix.Webhook(secret).verify(payload, dict(headers))
    except (json.JSONDecodeError, RecursionError) as error:  # signed, but not JSON
        raise UnreadableEvent(f"the body is not JSON Keystay can read ({error})") from error
    except Exception as error:  # svix raises several kinds for malformed headers
        raise WebhookRejected(str(error) or type(error).__name__) from error
    try:
        return event_info(raw)
    except RecursionError as error:
        raise UnreadableEvent("the event is nested too deep") from error


class SeamGateway:
    """Calls to one Seam workspace."""

    def __init__(self, *, api_key: str, endpoint: str | None = None):
        # Checked before any client exists: a stored endpoint may predate the allowed list
        # (or the list may have shrunk since), and no request may leave for such a server.
        if not endpoints.endpoint_allowed(endpoint):
            raise ProviderError("invalid", endpoints.NOT_ALLOWED, code="endpoint_not_allowed")
        try:
            self._client: Seam = make_seam_client(
                api_key=api_key, endpoint=endpoints.effective_endpoint(endpoint)
            )
        except Exception as error:  # e.g. a key that is not shaped like a Seam key
            raise _translate(error) from error

    @classmethod
    def for_connection(cls, connection) -> SeamGateway:
        if not connection.api_key_ciphertext:
            raise ProviderError("unauthorized", "No API key is stored for this connection.")
        return cls(api_key=connection.api_key, endpoint=connection.endpoint or None)

    def __enter__(self) -> SeamGateway:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._client.client.close()

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as error:  # every failure leaves as a ProviderError
            raise _translate(error) from error

    # Workspace ------------------------------------------------------------------

    def check_credentials(self) -> WorkspaceInfo:
        """Prove the key works (a cheap authenticated list), then read the workspace."""
        self._call(self._client.devices.list, limit=1)
        workspace = self._call(self._client.workspaces.get)
        return WorkspaceInfo(
            workspace_id=workspace.workspace_id,
            name=workspace.name or "",
            is_sandbox=bool(workspace.is_sandbox),
        )

    # Devices --------------------------------------------------------------------

    def _all_pages(self, list_route, **params) -> list[Any]:
        """Every item of a paginated listing; a failure on any page raises ProviderError.

        Follows pagination.next_page_cursor while it is set. A listing without
        pagination (a route or server that does not paginate) is one page.
        """
        items: list[Any] = []
        cursor = None
        seen: set[str] = set()
        for _ in range(LIST_MAX_PAGES):
            page = self._call(list_route, **params, **({"page_cursor": cursor} if cursor else {}))
            items.extend(page)
            cursor = _field(getattr(page, "pagination", None), "next_page_cursor")
            if not cursor:
                return items
            if cursor in seen:  # the SDK's own paginator would stop here, short
                raise ProviderError("error", "Seam repeated a page of a listing.")
            seen.add(cursor)
        raise ProviderError("error", f"Seam's listing did not end after {LIST_MAX_PAGES} pages.")

    def list_lock_devices(self) -> list[DeviceInfo]:
        """Every lock of the workspace that can hold access codes (every page).

        Read from devices/list: the SDK's locks.list takes no page cursor.
        """
        devices = self._all_pages(self._client.devices.list, limit=LIST_PAGE_SIZE)
        return [
            self._lock_info(d)
            for d in devices
            if "access_code" in (d.capabilities_supported or [])
        ]

    def _lock_info(self, device) -> DeviceInfo:
        props = device.properties
        model = _field(props, "model")
        manufacturer = _field(props, "manufacturer") or ""
        battery = _field(props, "battery_level")
        if battery is None:
            battery = _field(_field(props, "battery"), "level")
        constraints = _constraints(_field(props, "code_constraints"))
        return DeviceInfo(
            provider_device_id=device.device_id,
            kind="lock",
            name=_field(props, "name") or device.display_name or device.device_id,
            manufacturer=_brand(_field(model, "manufacturer_display_name"), manufacturer),
            # Seam's placeholder for a model it does not know is "Device": no model, then.
            model=_known(_field(model, "display_name"), "device"),
            provider_account_id=device.connected_account_id or "",
            online=bool(_field(props, "online", True)),
            battery_level=battery,
            supported_code_lengths=list(_field(props, "supported_code_lengths") or []),
            code_constraints=constraints,
            max_active_codes=_field(props, "max_active_codes_supported"),
            supports_native_scheduling=manufacturer.lower() in NATIVE_SCHEDULING_MANUFACTURERS,
            can_specify_pin_code=not any(
                c["constraint_type"] == "cannot_specify_pin_code" for c in constraints
            ),
            supports_backup_access_code_pool=bool(
                _field(props, "supports_backup_access_code_pool", False)
            ),
            provider_warnings=_warnings(_field(device, "warnings")),
        )

    def list_acs_entrances(self) -> list[DeviceInfo]:
        """Every entrance, of every access-control system, that opens with a code."""
        result = []
        for system in self._call(self._client.acs.systems.list):
            entrances = self._all_pages(
                self._client.acs.entrances.list,
                acs_system_id=system.acs_system_id,
                limit=LIST_PAGE_SIZE,
            )
            for entrance in entrances:
                if entrance.can_unlock_with_code is False:
                    continue
                result.append(
                    DeviceInfo(
                        provider_device_id=entrance.acs_entrance_id,
                        kind="acs_entrance",
                        name=entrance.display_name or entrance.acs_entrance_id,
                        provider_system_id=system.acs_system_id,
                        manufacturer=system.external_type_display_name or "",
                        model=system.name or "",
                        online=not any(
                            _field(e, "error_code")
                            in {"device_offline", "acs_system_disconnected"}
                            for e in (entrance.errors or [])
                        ),
                        # The access-control system schedules its credentials itself.
                        supports_native_scheduling=True,
                    )
                )
        return result

    # Provider accounts ----------------------------------------------------------

    def list_connected_accounts(self) -> list[AccountInfo]:
        accounts = self._all_pages(self._client.connected_accounts.list, limit=LIST_PAGE_SIZE)
        result = []
        for account in accounts:
            identifier = account.user_identifier
            result.append(
                AccountInfo(
                    provider_account_id=account.connected_account_id,
                    account_type=account.account_type or "",
                    display_name=account.account_type_display_name or "",
                    user_identifier=(
                        _field(identifier, "email")
                        or _field(identifier, "username")
                        or _field(identifier, "phone")
                        or ""
                    ),
                    errors=[
                        {"error_code": _field(e, "error_code"), "message": _field(e, "message")}
                        for e in (account.errors or [])
                    ],
                )
            )
        return result

    def create_connect_webview(self, *, providers: list[str], redirect_url: str) -> WebviewInfo:
        webview = self._call(
            self._client.connect_webviews.create,
            accepted_providers=providers,
            custom_redirect_url=redirect_url,
        )
        return self._webview_info(webview)

    def get_connect_webview(self, provider_webview_id: str) -> WebviewInfo:
        webview = self._call(
            self._client.connect_webviews.get, connect_webview_id=provider_webview_id
        )
        return self._webview_info(webview)

    def complete_connect_webview_on_fake(self, provider_webview_id: str) -> None:
        """Seam's fake server has no provider sign-in page: it links an account (and its
        devices) to a Connect Webview through this route of its own. Only for the demo's
        fake (see endpoints.is_demo_fake); Seam's API has no such route."""
        self._call(
            self._client.client.post,
            "/_fake/complete_connect_webview",
            json={"connect_webview_id": provider_webview_id},
        )

    @staticmethod
    def _webview_info(webview) -> WebviewInfo:
        return WebviewInfo(
            provider_webview_id=webview.connect_webview_id,
            url=webview.url,
            status=webview.status or "pending",
            provider_account_id=webview.connected_account_id or "",
            accepted_providers=list(webview.accepted_providers or []),
        )

    # Access codes on PIN locks ------------------------------------------------------

    @staticmethod
    def _code_info(access_code) -> ProviderCode:
        return ProviderCode(
            provider_id=access_code.access_code_id,
            code=access_code.code or "",
            name=access_code.name or "",
            starts_at=_parse_time(access_code.starts_at),
            ends_at=_parse_time(access_code.ends_at),
            status=access_code.status or "",
            errors=tuple(_field(e, "error_code") or "" for e in (access_code.errors or [])),
            warnings=tuple(
                _field(w, "warning_code") or "" for w in (_field(access_code, "warnings") or [])
            ),
            device_id=_field(access_code, "device_id") or "",
            is_managed=_field(access_code, "is_managed") is not False,
            is_external_modification_allowed=bool(
                _field(access_code, "is_external_modification_allowed")
            ),
            pending_mutations=tuple(
                _field(m, "mutation_code") or ""
                for m in (_field(access_code, "pending_mutations") or [])
            ),
        )

    def create_access_code(
        self,
        *,
        device_id: str,
        code: str | None,
        name: str,
        starts_at: datetime.datetime | None,
        ends_at: datetime.datetime | None,
        use_backup_pool: bool = False,
    ) -> ProviderCode:
        """A time-bound code: the lock refuses it outside the window (native scheduling).
        Without both times, an "ongoing" code (a standing crew code with no end).

        use_backup_pool: the lock keeps spare codes Keystay may pull should this one fail
        (enabling the pool on a lock cannot be undone; only sent when asked for).
        """
        created = self._call(
            self._client.access_codes.create,
            device_id=device_id,
            code=code or None,
            name=name,
            **(
                {"starts_at": seam_time(starts_at), "ends_at": seam_time(ends_at)}
                if starts_at is not None and ends_at is not None
                else {}
            ),
            **({"use_backup_access_code_pool": True} if use_backup_pool else {}),
        )
        return self._code_info(created)

    def pull_backup_access_code(self, *, provider_id: str) -> ProviderCode:
        """A spare code from the lock's backup pool standing in for this (time-bound) code.

        Seam hands out the same backup for the same code on every call, removes it after
        the original code's window, and never hands it out for another code.
        """
        route = "/access_codes/pull_backup_access_code"
        try:
            pulled = self._client.access_codes.pull_backup_access_code(access_code_id=provider_id)
        except SeamHttpInvalidResponseError:
            # Some servers (Seam's fake) answer under "backup_access_code" where the SDK
            # reads "access_code": read the same answer through the SDK's own client.
            body = self._call(
                self._client.client.post, route, json={"access_code_id": provider_id}
            )
            raw = _field(body, "backup_access_code") or _field(body, "access_code")
            if not isinstance(raw, dict):
                raise ProviderError("error", "Seam's answer held no backup code.") from None
            pulled = AccessCode.from_dict(raw)
        except ProviderError:
            raise
        except Exception as error:
            raise _translate(error) from error
        return self._code_info(pulled)

    def update_access_code(
        self,
        *,
        provider_id: str,
        code: str | None,
        name: str,
        starts_at: datetime.datetime | None,
        ends_at: datetime.datetime | None,
    ) -> None:
        # Always send both times: an update without them turns the code "ongoing" (what
        # a standing code with no end asks for, by passing neither).
        if starts_at is None or ends_at is None:
            self._call(
                self._client.access_codes.update,
                access_code_id=provider_id,
                code=code or None,
                name=name,
                type="ongoing",
            )
            return
        self._call(
            self._client.access_codes.update,
            access_code_id=provider_id,
            code=code or None,
            name=name,
            starts_at=seam_time(starts_at),
            ends_at=seam_time(ends_at),
            type="time_bound",
        )

    def delete_access_code(self, *, provider_id: str) -> None:
        """Remove a code; one that is already gone counts as removed."""
        try:
            self._call(self._client.access_codes.delete, access_code_id=provider_id)
        except ProviderError as error:
            if error.kind != "not_found":
                raise

    def get_access_code(self, provider_id: str) -> ProviderCode | None:
        try:
            return self._code_info(
                self._call(self._client.access_codes.get, access_code_id=provider_id)
            )
        except ProviderError as error:
            if error.kind == "not_found":
                return None
            raise

    def list_device_codes(self, *, device_id: str) -> list[ProviderCode]:
        """Every managed access code Seam holds for one device, with its status, errors
        and warnings: what the lock should hold, as Seam knows it (every page).

        Filters by device itself: some servers (Seam's fake) ignore the device_id filter.
        Backup-pool codes Seam keeps in reserve are not the device's codes in use.
        """
        codes = self._all_pages(
            self._client.access_codes.list, device_id=device_id, limit=LIST_PAGE_SIZE
        )
        return [
            self._code_info(c)
            for c in codes
            if c.device_id == device_id
            and c.is_managed is not False
            and not _field(c, "is_backup", False)
        ]

    def find_access_codes(self, *, device_id: str, name_prefix: str) -> list[ProviderCode]:
        """Codes on a device whose name starts with a prefix: finds a code whose create
        succeeded at Seam although Keystay never saw the answer (there is no idempotency
        key)."""
        return [
            c
            for c in self.list_device_codes(device_id=device_id)
            if c.name.startswith(name_prefix)
        ]

    # Access-control entrances: a guest user with a time-bound PIN credential ---------

    def create_acs_guest(
        self,
        *,
        acs_system_id: str,
        full_name: str,
        starts_at: datetime.datetime,
        ends_at: datetime.datetime,
    ) -> str:
        user = self._call(
            self._client.acs.users.create,
            acs_system_id=acs_system_id,
            full_name=full_name,
            access_schedule={"starts_at": seam_time(starts_at), "ends_at": seam_time(ends_at)},
        )
        return user.acs_user_id

    def update_acs_guest(
        self, *, acs_user_id: str, starts_at: datetime.datetime, ends_at: datetime.datetime
    ) -> None:
        self._call(
            self._client.acs.users.update,
            acs_user_id=acs_user_id,
            access_schedule={"starts_at": seam_time(starts_at), "ends_at": seam_time(ends_at)},
        )

    def create_acs_credential(
        self,
        *,
        acs_user_id: str,
        entrance_id: str,
        code: str,
        starts_at: datetime.datetime,
        ends_at: datetime.datetime,
    ) -> ProviderCode:
        credential = self._call(
            self._client.acs.credentials.create,
            acs_user_id=acs_user_id,
            access_method="code",
            code=code,
            allowed_acs_entrance_ids=[entrance_id],
            starts_at=seam_time(starts_at),
            ends_at=seam_time(ends_at),
        )
        return ProviderCode(
            provider_id=credential.acs_credential_id,
            code=credential.code or code,
            starts_at=_parse_time(credential.starts_at),
            ends_at=_parse_time(credential.ends_at),
        )

    def delete_acs_credential(self, *, provider_id: str) -> None:
        try:
            self._call(self._client.acs.credentials.delete, acs_credential_id=provider_id)
        except ProviderError as error:
            if error.kind != "not_found":
                raise

    def delete_acs_guest(self, *, acs_user_id: str) -> None:
        try:
            self._call(self._client.acs.users.delete, acs_user_id=acs_user_id)
        except ProviderError as error:
            if error.kind != "not_found":
                raise

    # Unmanaged codes (made in the lock's own app or a PMS) ------------------------------

    def list_unmanaged_codes(self, *, device_id: str) -> list[ProviderCode]:
        """Codes on a lock that this workspace did not create. Keystay never calls the
        unmanaged update or convert routes; it deletes one only as a manager's recorded
        removal of a leftover (delete_unmanaged_code, called from locks.leftovers)."""
        codes = self._call(self._client.access_codes.unmanaged.list, device_id=device_id)
        return [
            self._code_info(c)
            for c in codes
            # Filtered here too: some servers ignore a list's device_id filter.
            if c.device_id == device_id and c.is_managed is not True
        ]

    def delete_unmanaged_code(self, *, provider_id: str) -> None:
        """Remove a code this workspace did not create (Seam's
        access_codes.unmanaged.delete); one already gone counts as removed. Only
        locks.leftovers calls it, for a leftover a manager confirmed."""
        try:
            self._call(self._client.access_codes.unmanaged.delete, access_code_id=provider_id)
        except ProviderError as error:
            if error.kind != "not_found":
                raise

    # Events and webhooks ---------------------------------------------------------------

    def list_events(
        self,
        *,
        since: datetime.datetime,
        until: datetime.datetime,
        event_types: list[str],
        page_size: int = EVENTS_PAGE_SIZE,
        max_requests: int = EVENTS_MAX_REQUESTS,
    ) -> EventBatch:
        """The events of these types created in (since, until), oldest first.

        Seam's list has a size limit and no page cursor, and whether a full page holds the
        oldest or the newest events is not documented: a full page's interval is halved
        until each part fits, oldest part first. Parts overlap by a millisecond so that an
        event on a boundary is never lost (callers dedupe on event_id). After
        `max_requests` calls the batch stops short: `complete_until` says how far it got.
        """
        found: dict[str, EventInfo] = {}
        pending = [(since, until)]  # oldest first
        requests = 0
        while pending and requests < max_requests:
            requests += 1
            start, end = pending.pop(0)
            events = self._call(
                self._client.events.list,
                # Sent to the millisecond, rounded outwards: (start, end) is all covered.
                between=[_seam_time_ms(start), _seam_time_ms(end + EVENTS_BOUNDARY_OVERLAP)],
                event_types=event_types,
                limit=page_size,
            )
            if len(events) >= page_size and end - start > EVENTS_MIN_INTERVAL:
                middle = start + (end - start) / 2
                pending[:0] = [(start, middle + EVENTS_BOUNDARY_OVERLAP), (middle, end)]
                continue
            for event in events:
                try:
                    info = event_info(_event_dict(event))
                except ValueError:
                    continue  # not an event Keystay can read; nothing to record
                found[info.event_id] = info
        return EventBatch(
            events=sorted(found.values(), key=lambda e: (e.created_at, e.event_id)),
            complete_until=pending[0][0] if pending else until,
        )

    def create_webhook(self, *, url: str, event_types: list[str] | None = None) -> WebhookInfo:
        """A webhook for these event types (every type when None); its secret signs each
        delivery."""
        webhook = self._call(self._client.webhooks.create, url=url, event_types=event_types)
        return WebhookInfo(
            webhook_id=webhook.webhook_id, url=webhook.url or url, secret=webhook.secret or ""
        )

    def delete_webhook(self, *, webhook_id: str) -> None:
        """Remove a webhook; one that is already gone counts as removed."""
        try:
            self._call(self._client.webhooks.delete, webhook_id=webhook_id)
        except ProviderError as error:
            if error.kind != "not_found":
                raise
