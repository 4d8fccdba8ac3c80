"""Rate limits per organization API key (per signed-in person for the browsable API)."""

import logging

from redis.exceptions import RedisError
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from core.client_address import client_ip

from .models import OrganizationAPIKey

logger = logging.getLogger(__name__)


class APIKeyRateThrottle(SimpleRateThrottle):
    """`DEFAULT_THROTTLE_RATES["api_key"]`, counted per key.

    The rate is read at each request (not once at import), so that settings overrides
    apply. A key is counted by its prefix, never by the key itself; two keys
    of one organization have two counts (the prefix is unique and never secret).
    """

    scope = "api_key"

    def allow_request(self, request, view):
        # The counts live in the cache, Redis in production. Without Redis (restarted,
        # unreachable) requests go through uncounted: a PMS's booking or cancellation
        # matters more than its rate, and the work they make waits in the database.
        try:
            return super().allow_request(request, view)
        except RedisError:
            logger.warning("API rate not counted: the cache (Redis) does not answer")
            return True

    def get_ident(self, request):
        # The client's address by Keystay's one rule (KEYSTAY_NUM_PROXIES), the guest
        # page's too: DRF's own reading trusts the whole X-Forwarded-For header by default.
        return client_ip(request)

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        if isinstance(request.auth, OrganizationAPIKey):
            ident = f"key-{request.auth.prefix}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"anon-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
