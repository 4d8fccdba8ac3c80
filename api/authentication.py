"""Who is calling: an organization API key (`Authorization: Bearer <key>`) or a session.

`principal_for(request)` is what every view, permission and serializer scopes by: a key's
principal is its one organization with its role, a signed-in person's comes from their
memberships. A key never acts as the person who made it.
"""

from __future__ import annotations

import re

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_api_key.permissions import KeyParser

from core import access
from core.access import Principal

from .models import OrganizationAPIKey

# The shape AbstractAPIKey's generator gives: an 8-character prefix, a dot, 32 characters.
KEY_FORMAT = re.compile(r"[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}")


class BearerKeyParser(KeyParser):
    keyword = "Bearer"


class APIKeyUser(Principal):
    """`request.user` of a request signed with a key.

    Not a person: it is the key's principal, so that anything handed `request.user`
    scopes to the key's organization and role too (`core.access` takes a principal as it
    is), and it has none of a user's relations to reach further by mistake.
    """

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    pk = None
    id = None

    def get_username(self) -> str:
        return self.label

    def __str__(self) -> str:
        return self.label


class OrganizationAPIKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer <key>`; other schemes (such as the old `Token`) are not ours.

    Revoked and expired keys are refused at once: the key's row is read at each request
    (one query by its indexed prefix), and nothing about it is cached.
    """

    keyword = "Bearer"
    key_parser = BearerKeyParser()

    def authenticate(self, request):
        key = self.key_parser.get(request)
        if key is None:
            return None  # no bearer key: a session may still sign the request in
        key = key.strip()
        if not KEY_FORMAT.fullmatch(key):
            raise AuthenticationFailed("Invalid API key.")  # refused before any query
        try:
            api_key = OrganizationAPIKey.objects.get_from_key(key)
        except OrganizationAPIKey.DoesNotExist:
            raise AuthenticationFailed("Invalid API key.") from None
        if api_key.has_expired:
            raise AuthenticationFailed("This API key has expired.")
        api_key.touch()
        principal = api_key.principal
        return APIKeyUser(roles=principal.roles, label=principal.label), api_key

    def authenticate_header(self, request) -> str:
        # Also what makes DRF answer 401 (not 403) to a request without credentials.
        return f'{self.keyword} realm="api"'


def principal_for(request) -> Principal:
    """The principal a request acts as: its API key's, or the signed-in person's."""
    if isinstance(request.auth, OrganizationAPIKey):
        return request.auth.principal
    return access.principal_of(request.user)
