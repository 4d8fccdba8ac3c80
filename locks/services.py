"""Writes that matter for connections, devices and assignments."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from properties.models import Listing, Organization

from . import endpoints
from .gateway import DeviceInfo, ProviderError, SeamGateway
from .models import (
    ConnectedAccount,
    ConnectWebview,
    Device,
    LockAssignment,
    LockProviderConnection,
)
from .signals import devices_synced, listing_locks_changed
from .unmanaged import unmanaged_codes_import

logger = logging.getLogger(__name__)

# Fields of Device that an import owns (everything the provider reports).
SYNCED_FIELDS = [
    "kind",
    "provider_system_id",
    "name",
    "manufacturer",
    "model",
    "online",
    "battery_level",
    "supported_code_lengths",
    "code_constraints",
    "max_active_codes",
    "supports_native_scheduling",
    "can_specify_pin_code",
    "supports_backup_access_code_pool",
    "provider_warnings",
]
PROGRESS_EVERY = 25


@dataclass
class SyncResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    # Devices that disappeared or came back: the stays using them need a new plan.
    presence_changed_ids: list[int] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed or self.restored)

    def as_dict(self) -> dict:
        return {
            "created": len(self.created),
            "updated": len(self.updated),
            "unchanged": self.unchanged,
            "removed": len(self.removed),
            "restored": len(self.restored),
        }

    def __str__(self) -> str:
        d = self.as_dict()
        return (
            f"{d['created']} new, {d['updated']} updated, {d['unchanged']} unchanged, "
            f"{d['removed']} removed at the provider"
            + (f", {d['restored']} back" if d["restored"] else "")
        )


def connection_create(
    *, organization: Organization, name: str, api_key: str, endpoint: str = ""
) -> LockProviderConnection:
    """Check the key against Seam, then store the connection with the key encrypted.

    Raises ProviderError (nothing saved) when Seam refuses the key or cannot be reached.
    """
    with SeamGateway(api_key=api_key, endpoint=endpoint or None) as gateway:
        workspace = gateway.check_credentials()
    connection = LockProviderConnection(
        organization=organization,
        name=name,
        endpoint=endpoint,
        workspace_id=workspace.workspace_id,
        workspace_name=workspace.name,
        is_sandbox=workspace.is_sandbox,
    )
    connection.set_api_key(api_key)
    connection.full_clean()
    connection.save()
    return connection


def connection_request_sync(*, connection: LockProviderConnection) -> None:
    """Queue an import; the qcluster runs it once this transaction commits."""
    from django_q.tasks import async_task

    # The last import's progress ("8 of 8 devices") goes with it: beside "Import queued"
    # it read as an import done and still queued.
    LockProviderConnection.objects.filter(pk=connection.pk).exclude(
        sync_state=LockProviderConnection.SyncState.RUNNING
    ).update(
        sync_state=LockProviderConnection.SyncState.QUEUED,
        sync_requested_at=timezone.now(),
        sync_done=0,
        sync_total=0,
    )
    # robust: without the broker (Redis restarting) the request is kept (queued) and the
    # hourly import does it; the manager's page does not fail.
    transaction.on_commit(
        lambda: async_task("locks.tasks.sync_connection", connection.pk, group="device-sync"),
        robust=True,
    )


def devices_sync(*, connection: LockProviderConnection) -> SyncResult:
    """Import every code-capable lock and access-control entrance of the connection.

    Idempotent: a second run with nothing changed at the provider writes no device row.
    A device missing at the provider is marked removed (its assignments stay, flagged),
    never deleted. On a provider failure nothing imported earlier is touched; the failure
    is recorded on the connection and raised.
    """
    started = timezone.now()
    LockProviderConnection.objects.filter(pk=connection.pk).update(
        sync_state=LockProviderConnection.SyncState.RUNNING,
        sync_started_at=started,
        sync_done=0,
        sync_total=0,
    )
    try:
        # Provider calls happen outside any transaction: no lock is held while waiting.
        with SeamGateway.for_connection(connection) as gateway:
            infos = gateway.list_lock_devices() + gateway.list_acs_entrances()
            accounts = gateway.list_connected_accounts()
    except ProviderError as error:
        LockProviderConnection.objects.filter(pk=connection.pk).update(
            sync_state=LockProviderConnection.SyncState.FAILED,
            sync_finished_at=timezone.now(),
            last_sync_error=error.message,
        )
        raise
    LockProviderConnection.objects.filter(pk=connection.pk).update(sync_total=len(infos))
    result = _apply_devices(connection, infos, started)
    if result.removed or result.restored:
        # A door gone at the provider (or back) changes the plan of the stays using it.
        notify_listing_locks_changed(
            listing_ids=list(
                LockAssignment.objects.filter(
                    device_id__in=result.presence_changed_ids
                ).values_list("listing_id", flat=True)
            )
        )
    _apply_accounts(connection, accounts, brands=_account_brands(infos))
    LockProviderConnection.objects.filter(pk=connection.pk).update(
        sync_state=LockProviderConnection.SyncState.OK,
        sync_finished_at=timezone.now(),
        sync_done=len(infos),
        sync_summary=result.as_dict(),
        last_sync_error="",
    )
    logger.info("Device import for connection %s: %s", connection.pk, result)
    # Alerts from the devices' state (in the apps above), then the codes made in the
    # locks' own apps; a failure to read those is logged, never fails the import.
    devices_synced.send(sender=LockProviderConnection, connection=connection)
    try:
        unmanaged = unmanaged_codes_import(connection=connection)
    except ProviderError as error:
        logger.warning(
            "Unmanaged codes of connection %s not imported: %s", connection.pk, error.message
        )
    else:
        logger.info("Unmanaged codes of connection %s: %s", connection.pk, unmanaged)
    return result


def _apply_devices(connection: LockProviderConnection, infos: list[DeviceInfo], now) -> SyncResult:
    result = SyncResult()
    seen: set[str] = set()
    with transaction.atomic():
        # Two imports of one connection at once (the schedule and a button) take turns.
        LockProviderConnection.objects.select_for_update().filter(pk=connection.pk).first()
        existing = {d.provider_device_id: d for d in connection.devices.all()}
        for number, info in enumerate(infos, start=1):
            seen.add(info.provider_device_id)
            device = existing.get(info.provider_device_id)
            values = {name: getattr(info, name) for name in SYNCED_FIELDS}
            if device is None:
                Device.objects.create(
                    connection=connection,
                    provider_device_id=info.provider_device_id,
                    last_synced_at=now,
                    **values,
                )
                result.created.append(info.name)
            else:
                changed = [n for n, v in values.items() if getattr(device, n) != v]
                restored = device.removed_at is not None
                if changed or restored:
                    for name in changed:
                        setattr(device, name, values[name])
                    device.removed_at = None
                    device.last_synced_at = now
                    device.save(update_fields=[*changed, "removed_at", "last_synced_at"])
                    if restored:
                        result.restored.append(device.name)
                        result.presence_changed_ids.append(device.pk)
                    if changed:
                        result.updated.append(device.name)
                else:
                    result.unchanged += 1
            if number % PROGRESS_EVERY == 0:
                LockProviderConnection.objects.filter(pk=connection.pk).update(sync_done=number)
        for provider_id, device in existing.items():
            if provider_id not in seen and device.removed_at is None:
                device.removed_at = now
                device.save(update_fields=["removed_at"])
                result.removed.append(device.name)
                result.presence_changed_ids.append(device.pk)
    return result


def _account_brands(infos: list[DeviceInfo]) -> dict[str, str]:
    """Each account's brand, from its devices: Seam may call an account's type "Unknown"
    and leave its type out, while its locks name their manufacturer."""
    brands: dict[str, str] = {}
    for info in infos:
        if info.provider_account_id and info.manufacturer:
            brands.setdefault(info.provider_account_id, info.manufacturer)
    return brands


def _apply_accounts(
    connection: LockProviderConnection, accounts, *, brands: dict[str, str] | None = None
) -> None:
    now = timezone.now()
    seen = set()
    for info in accounts:
        seen.add(info.provider_account_id)
        display_name = info.display_name
        if not display_name or display_name.lower() == "unknown":
            display_name = (brands or {}).get(info.provider_account_id, display_name)
        if brands is None:
            # Read without the devices (a Connect Webview's return): keep the brand known.
            stored = connection.accounts.filter(
                provider_account_id=info.provider_account_id
            ).first()
            if stored is not None and (not display_name or display_name.lower() == "unknown"):
                display_name = stored.display_name
        ConnectedAccount.objects.update_or_create(
            connection=connection,
            provider_account_id=info.provider_account_id,
            defaults={
                "display_name": display_name,
                "account_type": info.account_type,
                "user_identifier": info.user_identifier,
                "errors": info.errors,
                "removed_at": None,
                "last_seen_at": now,
            },
        )
    connection.accounts.filter(removed_at__isnull=True).exclude(
        provider_account_id__in=seen
    ).update(removed_at=now)


def connect_webview_start(
    *, connection: LockProviderConnection, providers: list[str], redirect_url: str, user=None
) -> ConnectWebview:
    """Start a Seam Connect Webview for the chosen providers; send the manager to its url."""
    with SeamGateway.for_connection(connection) as gateway:
        info = gateway.create_connect_webview(providers=providers, redirect_url=redirect_url)
    return ConnectWebview.objects.create(
        connection=connection,
        provider_webview_id=info.provider_webview_id,
        url=info.url,
        accepted_providers=info.accepted_providers or providers,
        status=info.status,
        provider_account_id=info.provider_account_id,
        created_by=user,
    )


def connect_webview_complete_on_fake(*, webview: ConnectWebview) -> None:
    """The demo's account link, finished by Seam's fake server in place of the provider's
    sign-in page (which the fake does not have)."""
    connection = webview.connection
    if not endpoints.is_demo_fake(connection.endpoint):
        raise ValueError("Only the demo's fake Seam server completes a Connect Webview itself.")
    with SeamGateway.for_connection(connection) as gateway:
        gateway.complete_connect_webview_on_fake(webview.provider_webview_id)


def connect_webviews_refresh(*, connection: LockProviderConnection) -> list[ConnectWebview]:
    """Read back pending webviews; when one linked an account, import its devices."""
    refreshed = []
    pending = list(connection.webviews.filter(status="pending"))
    if not pending:
        return refreshed
    with SeamGateway.for_connection(connection) as gateway:
        for webview in pending:
            info = gateway.get_connect_webview(webview.provider_webview_id)
            if info.status != webview.status:
                webview.status = info.status
                webview.provider_account_id = info.provider_account_id
                webview.save(update_fields=["status", "provider_account_id"])
                refreshed.append(webview)
        accounts = gateway.list_connected_accounts()
    _apply_accounts(connection, accounts)
    return refreshed


def notify_listing_locks_changed(*, listing_ids, defer: bool = False) -> None:
    """Tell the apps above that these listings' locks changed: their stays re-plan
    (inside the caller's transaction, or after it with `defer`)."""
    listing_locks_changed.send(
        sender=LockAssignment, listing_ids=sorted(set(listing_ids)), defer=defer
    )


# ------------------------------------------------------------------ assignment rules


class AssignmentRule(StrEnum):
    ONE_PRIMARY = "one_primary"
    DEVICE_ONCE = "device_once"
    DEVICE_REMOVED = "device_removed"
    OTHER_ORGANIZATION = "other_organization"


@dataclass(frozen=True)
class Seat:
    """A device as one listing would have it (an assignment, existing or wanted)."""

    device_id: int
    device_organization_id: int
    device_removed: bool
    role: str
    # Assigned today: a device removed at the provider since keeps its place (its codes
    # must still leave the lock); only a new assignment of it is refused.
    assigned: bool = False


@dataclass(frozen=True)
class AssignmentProblem:
    rule: AssignmentRule
    index: int  # the seat at fault
    other: int | None = None  # the earlier seat it clashes with


def assignment_problems(*, organization_id: int, seats: list[Seat]) -> list[AssignmentProblem]:
    """What breaks the rules of a listing's locks, for the whole set it would have.

    The one place for them (the admin inline, the API and the bulk import word the
    problems their own way): devices of the listing's organization only, no device
    removed at the provider newly assigned, a device at most once, one primary lock.
    The database enforces the last two as well.
    """
    problems: list[AssignmentProblem] = []
    first_of_device: dict[int, int] = {}
    first_primary: int | None = None
    for index, seat in enumerate(seats):
        if seat.device_organization_id != organization_id:
            problems.append(AssignmentProblem(AssignmentRule.OTHER_ORGANIZATION, index))
            continue
        if seat.device_removed and not seat.assigned:
            problems.append(AssignmentProblem(AssignmentRule.DEVICE_REMOVED, index))
        if seat.device_id in first_of_device:
            problems.append(
                AssignmentProblem(
                    AssignmentRule.DEVICE_ONCE, index, first_of_device[seat.device_id]
                )
            )
            continue
        first_of_device[seat.device_id] = index
        if seat.role == LockAssignment.Role.PRIMARY:
            if first_primary is None:
                first_primary = index
            else:
                problems.append(
                    AssignmentProblem(AssignmentRule.ONE_PRIMARY, index, first_primary)
                )
    return problems


def device_seat(device: Device, *, role: str, assigned: bool = False) -> Seat:
    return Seat(
        device_id=device.pk,
        device_organization_id=device.organization_id,
        device_removed=device.removed_at is not None,
        role=role,
        assigned=assigned,
    )


def assignments_problems(
    *,
    listing: Listing,
    devices: list[Device],
    role: str,
    replacing: LockAssignment | None = None,
) -> list[str]:
    """Why these devices cannot join the listing in this role, in words (none: they can).

    `replacing`: an assignment being changed, which no longer counts as it was.
    """
    stored = listing.assignments.all()
    if replacing is not None and replacing.pk is not None:
        stored = stored.exclude(pk=replacing.pk)
    existing = [
        Seat(device_id, listing.organization_id, removed is not None, existing_role, True)
        for device_id, removed, existing_role in stored.values_list(
            "device_id", "device__removed_at", "role"
        )
    ]
    kept = (
        replacing is not None
        and replacing.pk is not None
        and LockAssignment.objects.filter(
            pk=replacing.pk, listing=listing, device__in=devices
        ).exists()
    )
    seats = existing + [device_seat(device, role=role, assigned=kept) for device in devices]
    problems = []
    for problem in assignment_problems(organization_id=listing.organization_id, seats=seats):
        device = devices[problem.index - len(existing)]
        if problem.rule == AssignmentRule.ONE_PRIMARY:
            problems.append(
                f"{listing} already has a primary lock."
                if problem.other < len(existing)
                else "Only one lock can be the primary lock of a listing."
            )
        elif problem.rule == AssignmentRule.OTHER_ORGANIZATION:
            problems.append(f"{device} belongs to another organization.")
        elif problem.rule == AssignmentRule.DEVICE_REMOVED:
            problems.append(f"{device} was removed at the provider.")
        else:
            problems.append(f"{device} is already assigned to {listing}.")
    return list(dict.fromkeys(problems))


def assignments_create(
    *,
    listing: Listing,
    devices: list[Device],
    role: str = LockAssignment.Role.SECONDARY,
    guest_access: bool = True,
    staff_access: bool = False,
    label: str = "",
) -> list[LockAssignment]:
    """Assign devices to one listing; raises ValidationError with a message per problem."""
    problems = assignments_problems(listing=listing, devices=devices, role=role)
    if problems:
        raise ValidationError(problems)
    try:
        with transaction.atomic():
            created = []
            for device in devices:
                assignment = LockAssignment(
                    listing=listing,
                    device=device,
                    role=role,
                    guest_access=guest_access,
                    staff_access=staff_access,
                    label=label.strip(),
                )
                assignment.save()
                created.append(assignment)
            if guest_access or staff_access:
                notify_listing_locks_changed(listing_ids=[listing.pk])
            return created
    except IntegrityError as error:  # a concurrent assignment won the race
        raise ValidationError(
            "The listing's locks changed meanwhile; reload and try again."
        ) from error


@transaction.atomic
def assignment_create(
    *,
    listing: Listing,
    device: Device,
    role: str,
    guest_access: bool,
    staff_access: bool = False,
    label: str = "",
) -> LockAssignment:
    (assignment,) = assignments_create(
        listing=listing,
        devices=[device],
        role=role,
        guest_access=guest_access,
        staff_access=staff_access,
        label=label,
    )
    return assignment


@transaction.atomic
def assignment_move(
    *,
    assignment: LockAssignment,
    listing: Listing,
    device: Device,
    role: str,
    guest_access: bool,
    staff_access: bool = False,
    label: str = "",
) -> LockAssignment:
    """Another listing or device on an assignment: the old pair ends (its codes leave that
    lock), the new one starts, with the same rules as a new assignment."""
    assignment_delete(assignment=LockAssignment.objects.get(pk=assignment.pk))
    return assignment_create(
        listing=listing,
        device=device,
        role=role,
        guest_access=guest_access,
        staff_access=staff_access,
        label=label,
    )


@transaction.atomic
def assignment_update(
    *,
    assignment: LockAssignment,
    role: str,
    guest_access: bool,
    staff_access: bool | None = None,
    label: str | None = None,
) -> LockAssignment:
    """Change an assignment's role, access flags or label (None keeps the stored value).

    The listing's stays re-plan when the role or an access flag changes; a new label only
    changes what guests and crew read next."""
    problems = assignments_problems(
        listing=assignment.listing, devices=[assignment.device], role=role, replacing=assignment
    )
    if problems:
        raise ValidationError(problems)
    staff_access = assignment.staff_access if staff_access is None else staff_access
    label = assignment.label if label is None else label.strip()
    before = (assignment.role, assignment.guest_access, assignment.staff_access)
    assignment.role, assignment.guest_access = role, guest_access
    assignment.staff_access, assignment.label = staff_access, label
    assignment.full_clean()
    assignment.save(update_fields=["role", "guest_access", "staff_access", "label"])
    if before != (role, guest_access, staff_access):
        notify_listing_locks_changed(listing_ids=[assignment.listing_id])
    return assignment


@transaction.atomic
def assignment_delete(*, assignment: LockAssignment) -> None:
    """The lock leaves the listing: its codes are revoked on it alone."""
    listing_id = assignment.listing_id
    assignment.delete()
    notify_listing_locks_changed(listing_ids=[listing_id])


# --------------------------------------------------------------------------- webhooks


def webhook_setup(*, connection: LockProviderConnection, url: str) -> LockProviderConnection:
    """Have Seam send this connection's events to `url`, signed with a fresh secret.

    A webhook set up before is replaced: the new one first, so no event goes unsent in
    between; the old one is removed at Seam afterwards (the reconcile covers anything it
    had left to deliver).
    """
    with SeamGateway.for_connection(connection) as gateway:
        # Every event type: the endpoint ignores those it does not keep, and an explicit
        # list would fail on a server that lacks one of them.
        info = gateway.create_webhook(url=url)
        previous = connection.webhook_id
        connection.webhook_id = info.webhook_id
        connection.webhook_url = info.url
        connection.webhook_secret = info.secret
        connection.webhook_set_up_at = timezone.now()
        connection.save(
            update_fields=[
                "webhook_id",
                "webhook_url",
                "webhook_secret_ciphertext",
                "webhook_set_up_at",
            ]
        )
        if previous and previous != info.webhook_id:
            try:
                gateway.delete_webhook(webhook_id=previous)
            except ProviderError as error:
                logger.warning(
                    "Old webhook of connection %s not removed: %s", connection.pk, error.message
                )
    return connection


# What other apps learn about a lock or a connection (the read-back, provider events, the
# provisioning worker) is written here, by the app that owns them.


def device_reported(*, device_id: int, **facts) -> None:
    """Record what the provider reported of a lock: `online`, `battery_level`."""
    unknown = set(facts) - {"online", "battery_level"}
    if unknown:
        raise TypeError(f"Not a reported fact of a lock: {sorted(unknown)}")
    Device.objects.filter(pk=device_id).update(**facts)


def device_back_off(*, device_id: int, until) -> None:
    """The provider asked Keystay to slow down for this lock: no call on it before `until`."""
    Device.objects.filter(pk=device_id).update(backoff_until=until)


def device_reconciled(*, device_id: int, at, error: str = "", backoff_until=None) -> None:
    """A read-back of the lock's codes ran at `at` (with the error that stopped it, and a
    pause the provider asked for, if any); a pass may queue it again."""
    values = {"reconciled_at": at, "reconcile_error": error, "reconcile_queued_until": None}
    if backoff_until is not None:
        values["backoff_until"] = backoff_until
    Device.objects.filter(pk=device_id).update(**values)


def devices_queue_for_reconcile(*, device_ids: list[int], now, until) -> list[int]:
    """Mark the locks queued for a read-back until `until`, skipping any another pass
    queued already; returns the ids marked, in order.

    The rows are locked while they are marked (PostgreSQL: `skip_locked`, so two passes
    at once share the locks out; SQLite serializes writing transactions)."""
    if not device_ids:
        return []
    free = Q(reconcile_queued_until__isnull=True) | Q(reconcile_queued_until__lte=now)
    with transaction.atomic():
        queued = sorted(
            Device.objects.select_for_update(skip_locked=True)
            .filter(pk__in=device_ids)
            .filter(free)
            .values_list("pk", flat=True)
        )
        Device.objects.filter(pk__in=queued).update(reconcile_queued_until=until)
    return queued


def devices_unqueue_for_reconcile(*, device_ids: list[int]) -> None:
    """The locks were not read (held by a worker, paused, their task not queued): the
    next pass may queue them again."""
    Device.objects.filter(pk__in=device_ids).update(reconcile_queued_until=None)


def connection_events_listed(*, connection: LockProviderConnection, until, at) -> None:
    """The connection's events are read up to `until` (the next listing starts there)."""
    LockProviderConnection.objects.filter(pk=connection.pk).update(
        events_cursor=until, events_reconciled_at=at, last_event_error=""
    )
    connection.events_cursor = until


def connection_events_failed(*, connection: LockProviderConnection, error: str) -> None:
    """The connection's events could not be listed; the next listing starts from the same
    point."""
    LockProviderConnection.objects.filter(pk=connection.pk).update(last_event_error=error)
