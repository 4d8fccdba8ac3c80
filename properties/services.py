"""Writes that matter for organizations and their members."""

from django.contrib.auth import get_user_model
from django.db import transaction

from .models import Listing, Membership, Organization, Property


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


# Listing fields whose change moves or changes the codes of its stays.
LISTING_CODE_FIELDS = {
    "buffer_before_minutes",
    "buffer_after_minutes",
    "code_lead_time_minutes",
    "code_length",
    "code_style",
    # A smaller bound trims the overrides beyond it when the stays are re-planned.
    "override_max_extension_minutes",
}


@transaction.atomic
def property_create(*, organization: Organization, **fields) -> Property:
    prop = Property(organization=organization, **fields)
    prop.full_clean()
    prop.save()
    return prop


@transaction.atomic
def property_update(*, prop: Property, **fields) -> Property:
    for name, value in fields.items():
        setattr(prop, name, value)
    prop.full_clean()
    prop.save()
    return prop


@transaction.atomic
def listing_create(*, property: Property, **fields) -> Listing:
    listing = Listing(property=property, organization_id=property.organization_id, **fields)
    listing.full_clean()
    listing.save()
    return listing


@transaction.atomic
def listing_update(*, listing: Listing, **fields) -> Listing:
    changed = {name for name, value in fields.items() if getattr(listing, name) != value}
    for name, value in fields.items():
        setattr(listing, name, value)
    listing.organization_id = listing.property.organization_id
    listing.full_clean()
    listing.save()
    if changed & LISTING_CODE_FIELDS:
        from reservations.services import listing_replan

        listing_replan(listing=listing)
    return listing
