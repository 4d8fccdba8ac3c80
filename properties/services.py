"""Writes that matter for organizations and their members."""

from django.contrib.auth import get_user_model
from django.db import transaction

from .models import Membership, Organization


@transaction.atomic
def organization_create(
    *, name: str, owner_username: str, owner_password: str | None = None, owner_email: str = ""
) -> tuple[Organization, bool]:
    """Create an organization with its first manager; return it and whether the user is new.

    An existing user keeps their password unless a new one is given.
    """
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username=owner_username, defaults={"email": owner_email, "is_staff": True}
    )
    if created and not owner_password:
        user.set_unusable_password()
    if owner_password:
        user.set_password(owner_password)
    user.is_staff = True  # members work in the admin
    user.save()
    organization = Organization.objects.create(name=name)
    Membership.objects.create(organization=organization, user=user, role=Membership.Role.MANAGER)
    return organization, created
