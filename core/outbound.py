"""The one guard of every HTTP request Keystay sends: to webhook receivers, calendar feeds
and Seam.

A manager types a URL and the server then calls it: without a guard, anyone with that
right could make Keystay call an address on its own network (an admin interface, a
database, the cloud provider's metadata service at 169.254.169.254) and read or provoke
something there. Checking the host name and then letting the HTTP library connect is not
enough: the name is resolved again to connect, and a name can answer a public address to
the check and a private one a second later (DNS rebinding). So the guard:

1. resolves the host once and checks *every* address it answers (one private address
   among public ones refuses the whole name);
2. connects to an address it checked, never to a fresh resolution: the URL is rewritten
   to that address, with the name kept in the Host header and in TLS (SNI and the
   certificate check, through httpcore's `sni_hostname` extension);
3. follows no redirect when it POSTs (a 3xx is an answer like any other, recorded, never
   followed); a GET (`get`, calendar feeds) follows a few, checking each new address as it
   checked the first;
4. bounds the time (short timeouts, a deadline on the whole answer) and the size of what
   it reads (`MAX_ANSWER_BYTES` for a webhook's answer, the caller's cap for a GET;
   compressed answers refused by asking for none).

Link-local addresses (the cloud metadata services live there), the unspecified address
(0.0.0.0 reaches this machine), multicast, broadcast and reserved ranges are refused
whatever the settings. Who may reach loopback and private networks (RFC 1918, unique-local,
carrier-grade NAT…) depends on who chose the address:

- webhook receivers, typed by managers (`post`, `validate_outbound_url`): HTTPS only unless
  `KEYSTAY_OUTBOUND_ALLOW_HTTP`, public addresses only unless
  `KEYSTAY_OUTBOUND_ALLOW_PRIVATE` (the tests' own receiver on 127.0.0.1). The check runs
  when an address is registered and again before each request (DNS can change between);
- Seam servers (`OriginTransport`, built by `locks.seam_transport`): a manager may only pick
  one of the origins the operator listed in SEAM_ALLOWED_ENDPOINTS (`locks/endpoints.py`),
  and that list decides the rest. An origin listed by its address (http://10.0.0.5:8080, the
  tests' fake Seam on 127.0.0.1) is the operator's own server and may be private; an origin
  listed by name (https://connect.getseam.com) must resolve to public addresses, unless
  `KEYSTAY_OUTBOUND_ALLOW_PRIVATE` is on, so that a DNS answer cannot turn it into a call
  inside the network. Each request resolves and checks the name again.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# What a request may take: connecting, each read and write, and the whole answer.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
TOTAL_DEADLINE = 20.0
# The most of an answer that is read; the rest is never downloaded.
MAX_ANSWER_BYTES = 64 * 1024
MAX_URL_LENGTH = 500

_DEFAULT_PORTS = {"http": 80, "https": 443}

# Cloud metadata services: named for the error message (all are refused anyway).
METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack…
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
}
# NAT64's well-known prefix carries an IPv4 address in its last 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


Origin = tuple[str, str, int]


def _host_of(parsed: httpx.URL) -> str:
    """The URL's host as httpx will connect to it. httpx decodes an "xn--" name only when
    it is read, and an invalid one ("xn--a.com") raises then (idna's errors are
    ValueErrors): reading it here keeps that inside the caller's parse."""
    return parsed.host


def origin(url: str | httpx.URL) -> Origin | None:
    """(scheme, host, port) of an http(s) URL as httpx will reach it; None for anything
    else, and for a URL carrying a user name or password."""
    try:
        parsed = httpx.URL(url)
        host = _host_of(parsed)
    except (httpx.InvalidURL, TypeError, ValueError):
        return None
    scheme = parsed.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not host or parsed.userinfo:
        return None
    # httpx lowercases the host; "host." names the same host as "host".
    host = host.rstrip(".")
    if not host:
        return None
    return scheme, host, parsed.port or _DEFAULT_PORTS[scheme]


class OutboundRefused(Exception):
    """Keystay does not send this request; `code` names the reason, `message` says it."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.message = message
        self.code = code


# ------------------------------------------------------------------------ the resolver

Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host` (IPv4 and IPv6), in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[str] = []
    for _family, _type, _proto, _canonname, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in found:
            found.append(address)
    return found


_resolver: Resolver = system_resolver


@contextlib.contextmanager
def resolver_override(resolver: Resolver | dict[str, list[str]]) -> Iterator[None]:
    """Resolve names with `resolver` (or a name → addresses map) for a while: tests point a
    name of their own at the address they want, and change it between two calls."""
    global _resolver
    if isinstance(resolver, dict):
        table = resolver

        def resolver(host: str, port: int) -> list[str]:
            if host not in table:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return list(table[host])

    previous, _resolver = _resolver, resolver
    try:
        yield
    finally:
        _resolver = previous


# ---------------------------------------------------------------------- the checks


def allow_http() -> bool:
    return bool(getattr(settings, "KEYSTAY_OUTBOUND_ALLOW_HTTP", False))


def allow_private() -> bool:
    return bool(getattr(settings, "KEYSTAY_OUTBOUND_ALLOW_PRIVATE", False))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries to the IPv4 network (mapped, 6to4, NAT64)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_problem(address: IPAddress, *, private_allowed: bool | None = None) -> str | None:
    """Why Keystay does not connect to `address` (None: it may)."""
    if private_allowed is None:
        private_allowed = allow_private()
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            return address_problem(inner, private_allowed=private_allowed)
        if address.scope_id:
            address = ipaddress.IPv6Address(str(address).split("%")[0])
    # Refused whatever the settings: none of these is a web server of anyone's.
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_unspecified:
        return "the unspecified address (it reaches this machine)"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address == ipaddress.IPv4Address(
        "255.255.255.255"
    ):
        return "the broadcast address"
    if address.is_loopback:  # before "reserved": ::1 lies in IPv6's reserved ::/8
        return None if private_allowed else "a loopback address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_global or private_allowed:
        return None
    return "a private or otherwise non-public address"


@dataclass(frozen=True)
class Target:
    """A URL Keystay may call: its parts, and the checked addresses to connect to."""

    url: httpx.URL
    host: str
    port: int
    addresses: tuple[str, ...]


def parse_url(url: str) -> tuple[httpx.URL, str, int]:
    """The URL, its host and port, or OutboundRefused for anything Keystay never calls."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise OutboundRefused(
            f"Enter an https:// address of at most {MAX_URL_LENGTH} characters.",
            code="invalid_url",
        )
    try:
        parsed = httpx.URL(url)
        parsed_host = _host_of(parsed)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise OutboundRefused("Enter a valid web address.", code="invalid_url") from None
    scheme = parsed.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parsed_host:
        raise OutboundRefused(
            "Enter a full web address, such as https://pms.example.com/keystay.",
            code="invalid_url",
        )
    if scheme == "http" and not allow_http():
        raise OutboundRefused(
            "Use https://: Keystay calls other servers only over HTTPS.", code="http_not_allowed"
        )
    if parsed.userinfo:
        raise OutboundRefused(
            "Put no user name or password in the address: receivers check the signature.",
            code="invalid_url",
        )
    if parsed.fragment:
        raise OutboundRefused("Leave out the #fragment.", code="invalid_url")
    host = parsed_host.rstrip(".").lower()
    if not host:
        raise OutboundRefused("Enter a valid web address.", code="invalid_url")
    # The parser takes any number as a port; a connection takes 1 to 65535.
    if parsed.port is not None and not 0 < parsed.port <= 65535:
        raise OutboundRefused("Enter a port between 1 and 65535.", code="invalid_url")
    return parsed, host, parsed.port or _DEFAULT_PORTS[scheme]


def resolve_checked(
    host: str, port: int, *, private_allowed: bool | None = None
) -> tuple[str, ...]:
    """Every address `host` resolves to, once all of them were found allowed
    (`private_allowed`: None reads KEYSTAY_OUTBOUND_ALLOW_PRIVATE).

    A failed lookup raises OSError (socket.gaierror): a network error, worth a retry.
    """
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        addresses = _resolver(host, port)
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} has no address")
    for address in addresses:
        problem = address_problem(ipaddress.ip_address(address), private_allowed=private_allowed)
        if problem is not None:
            # The address itself is not shown: a refused name should not become a way to
            # read this network's DNS.
            raise OutboundRefused(
                f"Keystay does not send requests to {host}: it resolves to {problem}.",
                code="private_address",
            )
    return tuple(addresses)


def check_url(url: str) -> Target:
    """The checked target of `url`, or OutboundRefused (OSError when DNS fails)."""
    parsed, host, port = parse_url(url)
    return Target(url=parsed, host=host, port=port, addresses=resolve_checked(host, port))


def validate_outbound_url(value: str) -> None:
    """A form and API validator: the address must be one Keystay may call right now."""
    try:
        check_url(value)
    except OutboundRefused as refused:
        raise ValidationError(refused.message, code=refused.code) from None
    except OSError:
        raise ValidationError(
            "This host name cannot be resolved: check the address.", code="unresolvable"
        ) from None


# ---------------------------------------------------------------- sending a request


@functools.cache
def _trusted_certificates() -> ssl.SSLContext:
    """The TLS context of every verified request (httpx's own default: certifi's
    certificates), built once per process: loading the certificates costs some 16 ms of
    CPU, which every new client (a provisioning run, a lock's read-back) used to pay. A
    context is safe to share between threads and connections."""
    return httpx.create_ssl_context()


def _tls(verify: ssl.SSLContext | bool) -> ssl.SSLContext | bool:
    return _trusted_certificates() if verify is True else verify


def _host_is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _send_to_checked(
    inner: httpx.BaseTransport, request: httpx.Request, host: str, addresses: tuple[str, ...]
) -> tuple[httpx.Response, str]:
    """Send `request` to the first of `addresses` that takes the connection; (answer,
    address). The request keeps its Host header (httpx set it from the URL's name); TLS
    sends the name as SNI and checks the certificate against it, so HTTPS is verified
    exactly as if the name had been resolved by the library."""
    if not _host_is_address(host) and request.url.scheme == "https":
        request.extensions = {**request.extensions, "sni_hostname": host}
    original = request.url
    last_error: Exception | None = None
    for address in addresses:
        request.url = original.copy_with(host=address)
        try:
            return inner.handle_request(request), address
        except httpx.ConnectError as error:  # the next address may answer
            last_error = error
        finally:
            request.url = original
    assert last_error is not None
    raise last_error


class PinnedTransport(httpx.BaseTransport):
    """Connects to the checked addresses of `target` only, whatever the URL says: for one
    request to an address a user typed (`post`)."""

    def __init__(self, target: Target, *, verify: ssl.SSLContext | bool = True):
        self.target = target
        # One connection per request: a pooled connection to an address must never carry
        # a request for another name that resolves there.
        self._inner = httpx.HTTPTransport(verify=_tls(verify), retries=0)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if origin(request.url) != origin(self.target.url):
            # Only a redirect could bring another URL here, and none is followed.
            raise OutboundRefused("Another host than the one checked.", code="redirect")
        response, _address = _send_to_checked(
            self._inner, request, self.target.host, self.target.addresses
        )
        return response

    def close(self) -> None:
        self._inner.close()


class OriginTransport(httpx.BaseTransport):
    """The transport of a long-lived client that calls one origin (a Seam server).

    Every request resolves the host again, checks every address (`private_allowed`: may
    they be loopback or private) and connects to a checked one; a request for any other
    origin is refused. Connections are pooled, which is safe here: every connection of
    this transport was opened to, and is only used for, this one host. The address that
    answered last is tried first while the name still resolves to it, so that a pooled
    connection keeps being used when DNS rotates its answers.
    """

    def __init__(
        self,
        origin_url: str,
        *,
        private_allowed: bool,
        verify: ssl.SSLContext | bool = True,
        inner: httpx.BaseTransport | None = None,
    ):
        self.origin = origin(origin_url)
        if self.origin is None:
            raise OutboundRefused("Not an http(s) origin Keystay calls.", code="invalid_url")
        _scheme, self.host, self.port = self.origin
        self.private_allowed = private_allowed
        self._inner = inner or httpx.HTTPTransport(verify=_tls(verify), retries=0)
        self._last_address: str | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if origin(request.url) != self.origin:
            raise OutboundRefused(
                f"Keystay calls only {self.host} through this connection.", code="redirect"
            )
        addresses = resolve_checked(self.host, self.port, private_allowed=self.private_allowed)
        if self._last_address in addresses:
            addresses = (
                self._last_address,
                *(a for a in addresses if a != self._last_address),
            )
        response, self._last_address = _send_to_checked(self._inner, request, self.host, addresses)
        return response

    def close(self) -> None:
        self._inner.close()


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: bytes  # at most the cap the caller chose (MAX_ANSWER_BYTES for a POST)
    truncated: bool
    location: str  # a redirect's Location (`post` shows it, never follows it)
    # The answer's headers that callers read (ETag, Last-Modified, Content-Type), by their
    # lowercased names; the URL that answered, after any redirect `get` followed.
    headers: dict[str, str] = field(default_factory=dict)
    url: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class DeadlineExceeded(httpx.TimeoutException):
    """The answer took longer than its deadline as a whole."""


# The answer headers kept in `Answer.headers`.
_KEPT_HEADERS = ("etag", "last-modified", "content-type", "location")
# How many redirects `get` follows at most (each hop is checked like the first address).
MAX_REDIRECTS = 3
_REDIRECT_STATUSES = {301, 302, 303, 307, 308}


def _send(
    method: str,
    target: Target,
    *,
    content: bytes | None,
    headers: dict[str, str],
    max_bytes: int,
    deadline: float,
    verify: ssl.SSLContext | bool,
) -> Answer:
    """One request to a checked target; at most `max_bytes` of the answer are read."""
    started = time.monotonic()
    timeout = httpx.Timeout(
        min(READ_TIMEOUT, deadline), connect=CONNECT_TIMEOUT, pool=CONNECT_TIMEOUT
    )
    headers = {**headers, "Accept-Encoding": "identity"}
    client = httpx.Client(
        transport=PinnedTransport(target, verify=verify),
        follow_redirects=False,
        trust_env=False,  # no proxy from the environment: it would connect elsewhere
        timeout=timeout,
    )
    with (
        client,
        client.stream(method, target.url, content=content, headers=headers) as response,
    ):
        body = bytearray()
        truncated = False
        # Raw bytes: nothing decompressed here (a small compressed answer can unpack into
        # gigabytes).
        for chunk in response.iter_raw():
            body += chunk
            if len(body) > max_bytes:
                del body[max_bytes:]
                truncated = True
                break
            if time.monotonic() - started > deadline:
                raise DeadlineExceeded("The server took too long to answer.")
        return Answer(
            status_code=response.status_code,
            body=bytes(body),
            truncated=truncated,
            location=response.headers.get("location", "")[:MAX_URL_LENGTH],
            headers={
                name: response.headers[name][:500]
                for name in _KEPT_HEADERS
                if name in response.headers
            },
            url=str(target.url),
        )


def post(
    url: str,
    *,
    content: bytes,
    headers: dict[str, str],
    verify: ssl.SSLContext | bool = True,
) -> Answer:
    """POST `content` to `url` through the guard (`verify`: the certificates trusted,
    the system's by default). A redirect is an answer like any other, never followed.

    Raises OutboundRefused (Keystay does not call this address) or an OSError/httpx error
    (DNS failure, refused connection, timeout: the caller may retry later).
    """
    return _send(
        "POST",
        check_url(url),
        content=content,
        headers=headers,
        max_bytes=MAX_ANSWER_BYTES,
        deadline=TOTAL_DEADLINE,
        verify=verify,
    )


def get(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    max_bytes: int,
    deadline: float = TOTAL_DEADLINE,
    max_redirects: int = MAX_REDIRECTS,
    verify: ssl.SSLContext | bool = True,
) -> Answer:
    """GET `url` through the guard, reading at most `max_bytes` of the answer (`truncated`
    says there was more) within `deadline` seconds per request.

    Redirects are followed up to `max_redirects` hops, and each new address is checked
    like the first one (resolved, every address allowed, connected to as checked): a
    public address that redirects to 169.254.169.254 or to this network is refused there.
    More hops than that is an OutboundRefused, as is any address Keystay does not call.
    Network failures raise OSError/httpx errors, as for `post`.
    """
    target = check_url(url)
    for _hop in range(max_redirects + 1):
        answer = _send(
            "GET",
            target,
            content=None,
            headers=headers or {},
            max_bytes=max_bytes,
            deadline=deadline,
            verify=verify,
        )
        if answer.status_code not in _REDIRECT_STATUSES or not answer.location:
            return answer
        try:
            following = str(target.url.join(answer.location))
        except (httpx.InvalidURL, TypeError, ValueError):
            raise OutboundRefused(
                "The server redirected to an address that is not valid.", code="redirect"
            ) from None
        target = check_url(following)
    raise OutboundRefused(
        f"The server redirected more than {max_redirects} times.", code="redirect"
    )


def send(
    method: str,
    url: str,
    *,
    content: bytes = b"",
    headers: dict[str, str],
    verify: ssl.SSLContext | bool = True,
) -> Answer:
    """Any one request through the guard, capped and timed like `post`, following no
    redirect (a PMS API read is a GET whose answer is JSON, never a redirect to follow)."""
    return _send(
        method,
        check_url(url),
        content=content or None,
        headers=headers,
        max_bytes=MAX_ANSWER_BYTES,
        deadline=TOTAL_DEADLINE,
        verify=verify,
    )
