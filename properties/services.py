"""Writes that matter for organizations and their members."""

import datetime
import hashlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from core import access
from core.bulk_insert import WRITE_BATCH, insert_many

from .models import Invitation, Listing, Membership, Organization, Property
from .signals import listings_changed, organization_created

logger = logging.getLogger(__name__)


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
    membership_create(organization=organization, user=user, role=Membership.Role.MANAGER)
    organization_created_announce(organization_id=organization.pk)
    return organization, created


def organization_created_announce(*, organization_id: int) -> None:
    """Tell the apps above that an organization exists, once the transaction commits (a
    rolled-back creation tells nothing). One failing receiver never stops the others."""

    def send() -> None:
        for receiver, result in organization_created.send_robust(
            sender=Organization, organization_id=organization_id
        ):
            if isinstance(result, Exception):
                logger.error(
                    "Receiver %r failed for new organization %s",
                    receiver,
                    organization_id,
                    exc_info=result,
                )

    transaction.on_commit(send)


# ------------------------------------------------------------------------- memberships
@transaction.atomic
def membership_create(
    *, organization: Organization, user: AbstractBaseUser, role: str
) -> Membership:
    """Make `user` a member. Members work in the admin, so they become staff users."""
    membership = Membership(organization=organization, user=user, role=role)
    membership.full_clean()
    membership.save()
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return membership


def membership_change_problem(*, membership: Membership, role: str | None) -> str | None:
    """Why `membership` may not take `role` (None: be removed), or None when it may.

    An organization always keeps a manager: nobody else could invite or manage anyone.
    """
    stored = Membership.objects.filter(pk=membership.pk).values_list("role", flat=True).first()
    if stored != Membership.Role.MANAGER or role == Membership.Role.MANAGER:
        return None
    other_managers = (
        Membership.objects.filter(
            organization_id=membership.organization_id, role=Membership.Role.MANAGER
        )
        .exclude(pk=membership.pk)
        .exists()
    )
    if other_managers:
        return None
    action = "removed" if role is None else "made staff"
    return (
        f"{membership.user} is the last manager of {membership.organization} and cannot be "
        f"{action}: make someone else a manager first."
    )


def _lock_organization(organization_id: int) -> None:
    # Serializes membership changes of one organization, so that two managers demoting
    # each other at the same moment cannot leave it without a manager.
    Organization.objects.select_for_update().filter(pk=organization_id).first()


@transaction.atomic
def membership_update(*, membership: Membership, role: str) -> Membership:
    _lock_organization(membership.organization_id)
    problem = membership_change_problem(membership=membership, role=role)
    if problem:
        raise ValidationError(problem, code="last_manager")
    membership.role = role
    membership.full_clean()
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_delete(*, membership: Membership) -> None:
    _lock_organization(membership.organization_id)
    problem = membership_change_problem(membership=membership, role=None)
    if problem:
        raise ValidationError(problem, code="last_manager")
    membership.delete()


# ------------------------------------------------------------------------- invitations
class InvitationError(Exception):
    """Why an invitation link cannot be used; the message is for the person holding it."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class InvitationCreated:
    invitation: Invitation
    link: str  # the only time the link exists outside the invited person's mailbox
    emailed: bool


def invitation_token_hash(token: str) -> str:
    """What is stored of a link's token (and all the invitation page keeps of it between
    requests): its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def _hash_of(token: str, token_hash: str) -> str:
    # A link's token, or its hash (the invitation page's session holds only that).
    return token_hash or invitation_token_hash(token)


def invitation_wrong_person(*, invitation: Invitation, user: AbstractBaseUser) -> str | None:
    """Why `user` may not accept (the invitation belongs to its address), or None."""
    if user.email and user.email.casefold() == invitation.email.casefold():
        return None
    return (
        f"This invitation is for {invitation.email}, and you are signed in as "
        f"{user.get_username()}, whose email is different. Sign out, then sign in with "
        "the invited account (or create one)."
    )


def invitation_create_problem(*, organization: Organization, email: str) -> str | None:
    """Why `email` cannot be invited to `organization`, or None.

    Only membership of this organization is told, never whether an account exists: the
    manager may see their own members, not the site's users.
    """
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        return f"Someone with this email is already a member of {organization}."
    return None


def invitation_create(
    *,
    organization: Organization,
    email: str,
    role: str,
    invited_by: AbstractBaseUser,
    base_url: str,
) -> InvitationCreated:
    """Invite `email` to join with `role`: a new single-use link, emailed, and returned.

    An earlier open invitation to the same address is revoked: one working link at a time.
    """
    if not access.can_manage(invited_by, organization):
        raise PermissionDenied("Only the organization's managers invite people.")
    email = BaseUserManager.normalize_email(email.strip())
    validate_email(email)
    if role not in Membership.Role.values:
        raise ValidationError(f"{role!r} is not a role.", code="invalid_role")
    problem = invitation_create_problem(organization=organization, email=email)
    if problem:
        raise ValidationError(problem, code="already_member")
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        Invitation.objects.filter(
            organization=organization,
            email__iexact=email,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
        ).update(revoked_at=now)
        invitation = Invitation.objects.create(
            organization=organization,
            email=email,
            role=role,
            invited_by=invited_by,
            token_hash=invitation_token_hash(token),
            expires_at=now + datetime.timedelta(days=settings.INVITATION_MAX_AGE_DAYS),
        )
    link = base_url.rstrip("/") + reverse("invitation_accept", kwargs={"token": token})
    return InvitationCreated(invitation, link, _invitation_email(invitation, link))


def _invitation_email(invitation: Invitation, link: str) -> bool:
    """Send the link; False when the mail server refused (the admin shows the link)."""
    context = {
        "invitation": invitation,
        "link": link,
        "days": settings.INVITATION_MAX_AGE_DAYS,
        "inviter": invitation.invited_by.get_full_name() or invitation.invited_by.get_username(),
    }
    try:
        send_mail(
            subject=f"You are invited to {invitation.organization} on Keystay",
            message=render_to_string("properties/invitation_email.txt", context),
            from_email=None,
            recipient_list=[invitation.email],
        )
    except Exception:  # any transport failure: the manager still has the link to pass on
        logger.exception("Invitation %s could not be emailed", invitation.pk)
        return False
    return True


def invitation_find(
    *, token: str = "", token_hash: str = "", for_update: bool = False
) -> Invitation:
    """The open invitation of a link (its token or the token's hash), or InvitationError
    saying why it cannot be used."""
    invitations = Invitation.objects.select_related("organization")
    if for_update:
        invitations = invitations.select_for_update(of=("self",))
    invitation = invitations.filter(token_hash=_hash_of(token, token_hash)).first()
    if invitation is None:
        raise InvitationError(
            "This invitation link is not valid. Check that you copied the whole link, or "
            "ask for a new invitation.",
            code="invalid",
        )
    status = invitation.status(timezone.now())
    if status == Invitation.Status.ACCEPTED:
        raise InvitationError("This invitation has already been used.", code="used")
    if status == Invitation.Status.REVOKED:
        raise InvitationError(
            f"This invitation to {invitation.organization} was withdrawn. Ask its manager "
            "for a new one if you still need it.",
            code="revoked",
        )
    if status == Invitation.Status.EXPIRED:
        raise InvitationError(
            f"This invitation to {invitation.organization} has expired. Ask its manager for "
            "a new one.",
            code="expired",
        )
    return invitation


@transaction.atomic
def invitation_accept(
    *, token: str = "", token_hash: str = "", user: AbstractBaseUser
) -> Membership:
    """Join the invitation's organization as `user`, who must own the invited address."""
    invitation = invitation_find(token=token, token_hash=token_hash, for_update=True)
    wrong_person = invitation_wrong_person(invitation=invitation, user=user)
    if wrong_person:
        raise InvitationError(wrong_person, code="wrong_person")
    if Membership.objects.filter(organization=invitation.organization, user=user).exists():
        raise InvitationError(
            f"You are already a member of {invitation.organization}.", code="already_member"
        )
    membership = membership_create(
        organization=invitation.organization, user=user, role=invitation.role
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    return membership


@transaction.atomic
def invitation_accept_with_new_account(
    *, token: str = "", token_hash: str = "", username: str, password: str
) -> Membership:
    """Create an account for the invited address (it has none yet) and accept with it."""
    token_hash = _hash_of(token, token_hash)
    invitation = invitation_find(token_hash=token_hash, for_update=True)
    user_model = get_user_model()
    if user_model.objects.filter(email__iexact=invitation.email).exists():
        raise InvitationError(
            f"An account with {invitation.email} exists already: sign in with it to accept.",
            code="account_exists",
        )
    user = user_model.objects.create_user(
        username=username, email=invitation.email, password=password
    )
    return invitation_accept(token_hash=token_hash, user=user)


@transaction.atomic
def invitation_revoke(*, invitation: Invitation) -> Invitation:
    """Withdraw an open invitation: its link stops working. Accepted ones stay accepted."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at is not None:
        raise ValidationError("This invitation was accepted already.", code="accepted")
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
    return invitation


# Listing fields whose change moves or changes the codes of its stays.
LISTING_CODE_FIELDS = {
    "buffer_before_minutes",
    "buffer_after_minutes",
    "code_lead_time_minutes",
    "code_length",
    "code_style",
    # A smaller bound trims the overrides beyond it when the stays are re-planned.
    "override_max_extension_minutes",
    # The stays' next pre-arrival check moves with the hours.
    "prearrival_check_hours",
    # Turnovers follow (reservations.turnovers): made, dropped, their windows moved.
    "turnovers_enabled",
    "turnover_minutes",
    "turnover_buffer_minutes",
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
        listings_changed.send(sender=Listing, listing_ids=[listing.pk], defer=False)
    return listing


@transaction.atomic
def property_delete(*, prop: Property) -> None:
    """Delete a property; refused by the database while it has listings (ProtectedError,
    which the API answers as a conflict)."""
    prop.delete()


@transaction.atomic
def listing_delete(*, listing: Listing) -> None:
    """Delete a listing; refused by the database while it has reservations (ProtectedError,
    which the API answers as a conflict)."""
    listing.delete()


QUERY_CHUNK = 2000  # ids per `__in` lookup: far below every database's parameter limit

# Bulk writes for the listing import (locks.listing_import): the import has checked every
# row and holds its own transaction; these write without a model instance or a full_clean
# per row and send no signal (the import tells the apps above once, when it is done).


def properties_bulk_create(*, organization: Organization, zones: dict[str, str]) -> dict[str, int]:
    """Create properties of the organization by name, each with its time zone; returns
    their ids by name."""
    created = Property.objects.bulk_create(
        [
            Property(organization=organization, name=name, time_zone=zone)
            for name, zone in zones.items()
        ],
        batch_size=WRITE_BATCH,
    )
    return {prop.name: prop.pk for prop in created}


def listings_bulk_insert(*, columns: Sequence[str], rows: list[tuple], omitted=None) -> None:
    """Insert listings: `rows` of values for `columns` (field attnames, organization_id
    among them); a cell that is `omitted`, and every other column, takes the default."""
    insert_many(Listing, columns, rows, omitted=omitted)


def listings_bulk_update(*, changes: dict[tuple[str, object], list[int]]) -> None:
    """Set `field = value` on the listings with these ids, for each (field, value): one
    UPDATE per field and value (a file that moves every check-in to 16:00 is a handful
    of statements).

    Not bulk_update: its CASE WHEN per row and field costs about a millisecond per
    listing to build, and its SQL grows with the square of the batch on SQLite.
    """
    for (name, value), ids in changes.items():
        for start in range(0, len(ids), QUERY_CHUNK):
            Listing.objects.filter(pk__in=ids[start : start + QUERY_CHUNK]).update(**{name: value})


def crew_member_deactivate(*, crew_member) -> None:
    """A crew member leaves by going inactive: kept for the record of past turnovers,
    given no new one."""
    type(crew_member).objects.filter(pk=crew_member.pk).update(active=False)
