"""Writes the API needs that have no service in their own app yet.

Each one validates the model, writes in one transaction, and re-plans the codes that
the change affects, as the admin does after the same edit. They would sit well in
`properties/services.py`, `locks/services.py` and `reservations/services.py`.
"""

from __future__ import annotations

from django.db import transaction

from locks.models import Device, LockAssignment
from locks.services import assignments_create
from properties.models import Listing, Organization, Property
from reservations.models import AccessOverride, Reservation
from reservations.services import listing_replan, reservation_replan

# Listing fields whose change moves or changes the codes of its stays.
LISTING_CODE_FIELDS = {
    "buffer_before_minutes",
    "buffer_after_minutes",
    "code_lead_time_minutes",
    "code_length",
    "code_style",
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
        listing_replan(listing=listing)
    return listing


@transaction.atomic
def assignment_create(
    *, listing: Listing, device: Device, role: str, guest_access: bool
) -> LockAssignment:
    (assignment,) = assignments_create(
        listing=listing, devices=[device], role=role, guest_access=guest_access
    )
    listing_replan(listing=listing)
    return assignment


@transaction.atomic
def assignment_update(
    *, assignment: LockAssignment, role: str, guest_access: bool
) -> LockAssignment:
    changed = (assignment.role, assignment.guest_access) != (role, guest_access)
    assignment.role, assignment.guest_access = role, guest_access
    assignment.full_clean()
    assignment.save(update_fields=["role", "guest_access"])
    if changed:
        listing_replan(listing=assignment.listing)
    return assignment


@transaction.atomic
def assignment_delete(*, assignment: LockAssignment) -> None:
    """The lock leaves the listing: its codes are revoked on it alone."""
    listing = assignment.listing
    assignment.delete()
    listing_replan(listing=listing)


@transaction.atomic
def override_set(
    *,
    reservation: Reservation,
    assignment: LockAssignment,
    override: AccessOverride | None = None,
    code: str = "",
    lead_time_minutes: int | None = None,
    starts_at=None,
    ends_at=None,
) -> AccessOverride:
    """Set one lock's exception for one stay; that lock alone follows it."""
    if override is None:
        override = AccessOverride(reservation=reservation, assignment=assignment)
    override.code = code
    override.lead_time_minutes = lead_time_minutes
    override.starts_at, override.ends_at = starts_at, ends_at
    override.full_clean()
    override.save()
    reservation_replan(reservation=reservation)
    return override


@transaction.atomic
def override_delete(*, override: AccessOverride) -> None:
    reservation = override.reservation
    override.delete()
    reservation_replan(reservation=reservation)
