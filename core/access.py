"""Who may see and change what: the organization scoping every surface shares.

Scoping works on a *principal*: a signed-in person (whose roles come from their
memberships) or an organization API key (one organization, one role). A principal sees
only the objects of its organizations; managers may change them, staff may only view
organization settings (they work on reservations). Superusers see and change everything.

Every function here takes either a `Principal` or a Django user, so that the admin can
pass `request.user` and the API the principal its authentication produced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db import models
from django.db.models import Model, QuerySet


class Role(models.TextChoices):
    MANAGER = "manager", "Manager"
    STAFF = "staff", "Staff"


@dataclass(frozen=True)
class Principal:
    """Whoever acts: organization id → role, and whether every row is theirs."""

    roles: Mapping[int, str] = field(default_factory=dict)
    is_superuser: bool = False
    label: str = ""

    @property
    def organization_ids(self) -> set[int]:
        return set(self.roles)

    @property
    def managed_organization_ids(self) -> set[int]:
        return {org for org, role in self.roles.items() if role == Role.MANAGER}


ANONYMOUS = Principal(label="anonymous")


def principal_of(who) -> Principal:
    """The principal of a user (read once per request, cached on the user object)."""
    if isinstance(who, Principal):
        return who
    if who is None or not who.is_authenticated:
        return ANONYMOUS
    cached = getattr(who, "_keystay_principal", None)
    if cached is None:
        # `memberships` is the reverse relation of properties.Membership.user.
        roles = dict(who.memberships.values_list("organization_id", "role"))
        cached = Principal(roles=roles, is_superuser=who.is_superuser, label=who.get_username())
        who._keystay_principal = cached
    return cached


def member_organization_ids(who) -> set[int]:
    return principal_of(who).organization_ids


def managed_organization_ids(who) -> set[int]:
    return principal_of(who).managed_organization_ids


def organization_lookup(model: type[Model]) -> str:
    """The ORM path from a model to its organization's id (`organization_lookup` on the
    model when it is not the plain `organization` foreign key)."""
    return getattr(model, "organization_lookup", None) or "organization"


def scope_queryset(queryset: QuerySet, who, *, manage: bool = False) -> QuerySet:
    """Narrow a queryset to the principal's organizations (to the managed ones with manage)."""
    principal = principal_of(who)
    if principal.is_superuser:
        return queryset
    ids = principal.managed_organization_ids if manage else principal.organization_ids
    return queryset.filter(**{f"{organization_lookup(queryset.model)}__in": ids})


def organization_id_of(obj: Model) -> int | None:
    lookup = organization_lookup(type(obj))
    if lookup == "pk":
        return obj.pk
    value = obj
    for part in lookup.split("__"):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value.pk if isinstance(value, Model) else value


def can_view(who, obj: Model | None = None) -> bool:
    principal = principal_of(who)
    if principal.is_superuser:
        return True
    if obj is None:
        return bool(principal.organization_ids)
    return organization_id_of(obj) in principal.organization_ids


def can_manage(who, obj: Model | None = None) -> bool:
    principal = principal_of(who)
    if principal.is_superuser:
        return True
    if obj is None:
        return bool(principal.managed_organization_ids)
    return organization_id_of(obj) in principal.managed_organization_ids
