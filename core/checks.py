"""Checks of the proxy settings that decide a client's address (core.client_address).

What can be told from the settings alone: whether Keystay's settings agree about a proxy
in front (the address count against the HTTPS header, and DRF's count), and whether
gunicorn is told to listen on a public address while a proxy is counted. Whether a proxy
really stands in front shows only at run time (core.client_address logs it once).
"""

from __future__ import annotations

import ipaddress
import os

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

HINT = (
    "Set KEYSTAY_NUM_PROXIES to the number of proxies in front of Keystay that append to "
    "X-Forwarded-For (0 when clients connect to gunicorn directly); see docs/security.md."
)


@register(Tags.security)
def proxy_count_is_one_rule(app_configs, **kwargs):
    """The count is a non-negative number, and DRF's throttles count as Keystay does."""
    proxies = settings.KEYSTAY_NUM_PROXIES
    problems = []
    if not isinstance(proxies, int) or proxies < 0:
        problems.append(
            Error(f"KEYSTAY_NUM_PROXIES must be 0 or more, not {proxies!r}.", id="core.E001")
        )
    drf = getattr(settings, "REST_FRAMEWORK", {}).get("NUM_PROXIES")
    if drf != proxies:
        problems.append(
            Error(
                f"REST_FRAMEWORK['NUM_PROXIES'] is {drf!r} and KEYSTAY_NUM_PROXIES is "
                f"{proxies!r}: the API's rate limits would read another client address "
                "than the guest page's.",
                hint="Set REST_FRAMEWORK['NUM_PROXIES'] from KEYSTAY_NUM_PROXIES.",
                id="core.E002",
            )
        )
    return problems


@register(Tags.security, deploy=True)
def proxy_settings_agree(app_configs, **kwargs):
    proxies = settings.KEYSTAY_NUM_PROXIES
    trusts_https_header = bool(getattr(settings, "SECURE_PROXY_SSL_HEADER", None))
    problems = []
    if proxies > 0 and not trusts_https_header:
        problems.append(
            Warning(
                f"KEYSTAY_NUM_PROXIES is {proxies}, but no proxy is trusted for HTTPS "
                "(SECURE_PROXY_SSL_HEADER is unset): if no proxy stands in front, a client "
                "chooses the address the rate limits count by sending X-Forwarded-For.",
                hint=HINT,
                id="core.W001",
            )
        )
    if proxies == 0 and trusts_https_header:
        problems.append(
            Warning(
                "A proxy is trusted for HTTPS (SECURE_PROXY_SSL_HEADER) but "
                "KEYSTAY_NUM_PROXIES is 0: every client would share the proxy's address, "
                "and one client's requests would hold back everyone's (the guest page's "
                "rate limit).",
                hint=HINT,
                id="core.W002",
            )
        )
    bind = _public_bind_address()
    if proxies > 0 and bind:
        problems.append(
            Warning(
                f"gunicorn listens on the public address {bind} (WEB_BIND) while "
                f"KEYSTAY_NUM_PROXIES is {proxies}: a client that connects to it directly "
                "chooses the address the rate limits count.",
                hint="Let gunicorn listen on a private or loopback address that only the "
                "proxy reaches (WEB_BIND), or set KEYSTAY_NUM_PROXIES to 0.",
                id="core.W003",
            )
        )
    return problems


def _public_bind_address() -> str | None:
    """WEB_BIND (config/gunicorn.conf.py) when it names one public address. The default,
    0.0.0.0, says nothing: every interface, public or not."""
    bind = os.environ.get("WEB_BIND", "").strip().strip("[]")
    try:
        address = ipaddress.ip_address(bind)
    except ValueError:
        return None
    return bind if address.is_global else None
