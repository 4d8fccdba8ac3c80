"""Who may see and change what: the organization scoping every surface shares.

A person sees only the objects of the organizations they are a member of; managers may
change them, staff may only view organization settings (they work on reservations).
Superusers see and change everything.
"""

from django.db.models import Model, QuerySet

from .models import Membership

ROLE_MANAGER = Membership.Role.MANAGER
ROLE_STAFF = Membership.Role.STAFF


def roles_by_organization(user) -> dict[int, str]:
    """Organization id → role, read once per request (cached on the user object)."""
    if not user.is_authenticated:
        return {}
    cached = getattr(user, "_keystay_roles", None)
    if cached is None:
        cached = dict(Membership.objects.filter(user=user).values_list("organization_id", "role"))
        user._keystay_roles = cached
    return cached


def member_organization_ids(user) -> set[int]:
    return set(roles_by_organization(user))


def managed_organization_ids(user) -> set[int]:
    return {org for org, role in roles_by_organization(user).items() if role == ROLE_MANAGER}


def organization_ids_for(user, *, manage: bool) -> set[int]:
    return managed_organization_ids(user) if manage else member_organization_ids(user)


def organization_lookup(model: type[Model]) -> str:
    """The ORM path from a model to its organization's id."""
    from properties.models import Organization

    if model is Organization:
        return "pk"
    custom = getattr(model, "organization_lookup", None)
    if custom:
        return custom
    return "organization"


def scope_queryset(queryset: QuerySet, user, *, manage: bool = False) -> QuerySet:
    """Narrow a queryset to the user's organizations (to the managed ones with manage)."""
    if user.is_superuser:
        return queryset
    lookup = organization_lookup(queryset.model)
    return queryset.filter(**{f"{lookup}__in": organization_ids_for(user, manage=manage)})


def organization_id_of(obj: Model) -> int | None:
    from properties.models import Organization

    if isinstance(obj, Organization):
        return obj.pk
    value = obj
    for part in organization_lookup(type(obj)).split("__"):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value.pk if isinstance(value, Model) else value


def can_view(user, obj: Model | None = None) -> bool:
    if user.is_superuser:
        return True
    if obj is None:
        return bool(member_organization_ids(user))
    return organization_id_of(obj) in member_organization_ids(user)


def can_manage(user, obj: Model | None = None) -> bool:
    if user.is_superuser:
        return True
    if obj is None:
        return bool(managed_organization_ids(user))
    return organization_id_of(obj) in managed_organization_ids(user)
