"""What locks report through Seam: events stored once, attributed to a person, and alerts.

Events arrive twice over: pushed by Seam's webhook (Svix retries a delivery for about a
day, so the same event can come more than once) and pulled by a periodic reconcile that
lists Seam's events since the last listing, for deliveries that never came. Both go
through `event_record`, which stores an event at most once per connection (a unique
constraint on Seam's event id decides, even between two concurrent deliveries) and applies
its effects in the same transaction: exactly once.
"""

from __future__ import annotations

import datetime
import logging
from collections import Counter

from django.db import IntegrityError, transaction
from django.utils import timezone

from locks import services as lock_services
from locks.gateway import EventInfo, ProviderError, SeamGateway
from locks.models import (
    Device,
    LockAssignment,
    LockProviderConnection,
    UnmanagedCode,
)

from . import signals
from .alerts import alert_open, alert_resolve
from .models import DeviceAlert, LockAccess, LockEvent, Reservation
from .readback import access_for_code, code_event_apply
from .standing import standing_is_valid, unlock_hours_check
from .turnovers import turnover_started

logger = logging.getLogger(__name__)

Kind = LockEvent.Kind
Method = LockEvent.Method
Alert = DeviceAlert.Kind

RECORDED, DUPLICATE, IGNORED = "recorded", "duplicate", "ignored"

# Seam event types Keystay keeps, and what each one is in Keystay's words.
EVENT_KINDS: dict[str, str] = {
    "lock.unlocked": Kind.UNLOCKED,
    "lock.locked": Kind.LOCKED,
    "lock.access_denied": Kind.ACCESS_DENIED,
    "access_code.set_on_device": Kind.CODE_SET,
    "access_code.removed_from_device": Kind.CODE_REMOVED,
    "access_code.failed_to_set_on_device": Kind.CODE_FAILED,
    "access_code.failed_to_remove_from_device": Kind.CODE_FAILED,
    "access_code.delay_in_setting_on_device": Kind.CODE_DELAYED,
    "access_code.delay_in_removing_from_device": Kind.CODE_DELAYED,
    "access_code.modified_external_to_seam": Kind.CODE_CHANGED_OUTSIDE,
    "access_code.deleted_external_to_seam": Kind.CODE_DELETED_OUTSIDE,
    "access_code.unmanaged.created": Kind.UNMANAGED_ADDED,
    "access_code.unmanaged.removed": Kind.UNMANAGED_REMOVED,
    "device.disconnected": Kind.OFFLINE,
    "device.connected": Kind.ONLINE,
    "device.low_battery": Kind.LOW_BATTERY,
    "device.battery_status_changed": Kind.BATTERY,
}

# Seam's unlock/lock methods, as a property manager says them.
METHODS = {
    "keycode": Method.KEYPAD,
    "remote": Method.APP,
    "mobile_key": Method.APP,
    "manual": Method.MANUAL,
    "automatic": Method.AUTOMATIC,
    "card": Method.CARD,
    "unknown": Method.UNKNOWN,
}

CONNECTIVITY = [Kind.OFFLINE, Kind.ONLINE]
BATTERY_KINDS = [Kind.LOW_BATTERY, Kind.BATTERY]
LOW_STATUSES = {"low", "critical"}

# The reconcile lists again a little of what it listed last time: an event can become
# listable at Seam some moments after its created_at. Duplicates are dropped by event id.
RECONCILE_OVERLAP = datetime.timedelta(minutes=10)
FIRST_LOOKBACK = datetime.timedelta(days=1)
MAX_LOOKBACK = datetime.timedelta(days=7)


# ----------------------------------------------------------------------------- record


def event_record(
    *,
    connection: LockProviderConnection,
    event: EventInfo,
    devices: dict[str, Device] | None = None,
) -> str:
    """Store one Seam event and apply its effects, at most once; returns what happened.

    Events of types Keystay does not keep, of another workspace, or of a device it has not
    imported are ignored.
    """
    kind = EVENT_KINDS.get(event.event_type)
    if kind is None or not event.device_id:
        return IGNORED
    workspace = connection.workspace_id
    if workspace and event.workspace_id and event.workspace_id != workspace:
        return IGNORED
    if devices is not None:
        device = devices.get(event.device_id)
    else:
        device = Device.objects.filter(
            connection=connection, provider_device_id=event.device_id
        ).first()
    if device is None:
        return IGNORED
    seen = LockEvent.objects.filter(connection=connection, provider_event_id=event.event_id[:100])
    if seen.exists():
        return DUPLICATE
    try:
        with transaction.atomic():
            lock_event = _store(connection, device, kind, event)
            refresh_codes = _apply(lock_event, device, event)
            # The lock access the event is about moves at once; the lock is read back.
            reconcile = code_event_apply(device=device, event=event)
    except IntegrityError:
        if seen.exists():  # a concurrent delivery of the same event won the race
            return DUPLICATE
        raise
    if refresh_codes:
        _refresh_unmanaged_codes_later(connection.pk, device.pk)
    if reconcile:
        _reconcile_lock_later(device.pk)
    return RECORDED


def _store(connection, device: Device, kind: str, event: EventInfo) -> LockEvent:
    reservation, unmanaged, turnover, name, standing = _attribution(connection, device, event)
    method = ""
    if kind in {Kind.UNLOCKED, Kind.LOCKED, Kind.ACCESS_DENIED}:
        method = METHODS.get(event.method, Method.UNKNOWN)
    return LockEvent.objects.create(
        organization_id=connection.organization_id,
        connection=connection,
        device=device,
        provider_event_id=event.event_id[:100],
        event_type=event.event_type[:100],
        kind=kind,
        occurred_at=event.occurred_at,
        access_code_id=event.access_code_id[:100],
        method=method,
        reservation=reservation,
        unmanaged_code=unmanaged,
        turnover=turnover,
        standing=standing,
        person_name=name[:200],
        detail=_detail(kind, event)[:300],
        battery_level=_clamp(event.battery_level),
        payload=event.payload,
    )


def _holder(access: LockAccess):
    """(reservation, unmanaged code, turnover, name, standing access) of a Keystay
    code's holder."""
    if access.turnover_id is not None:
        return None, None, access.turnover, access.turnover.holder_name, None
    if access.standing_id is not None:
        return None, None, None, access.standing.holder_name, access.standing
    return access.reservation, None, None, access.reservation.guest_name, None


def _attribution(connection, device: Device, event: EventInfo):
    """Whose code it was: a reservation's guest, a turnover's crew member, or an
    unmanaged code's name: (reservation, unmanaged code, turnover, name, standing)."""
    access_code_id = event.access_code_id
    if not access_code_id:
        return _attribution_by_digits(device, event)
    # Any id the stay's lock access ever held: a late unlock still finds its guest.
    access = access_for_code(device, access_code_id)
    if access is not None:
        return _holder(access)
    code = UnmanagedCode.objects.filter(device=device, provider_id=access_code_id).first()
    if code is not None:
        return None, code, None, code.display_name, None
    # A stay's code id is cleared once the code is removed; an event delivered late (a
    # reconcile after check-out) is attributed like the earlier events of that code.
    earlier = (
        LockEvent.objects.filter(connection=connection, access_code_id=access_code_id)
        .exclude(person_name="")
        .select_related("reservation", "unmanaged_code", "turnover", "standing")
        .order_by("-occurred_at")
        .first()
    )
    if earlier is not None:
        return (
            earlier.reservation,
            earlier.unmanaged_code,
            earlier.turnover,
            earlier.person_name,
            earlier.standing,
        )
    return _attribution_by_digits(device, event)


def _attribution_by_digits(device: Device, event: EventInfo):
    """Where the provider reports the digits entered: the stay whose window it was, or
    the unmanaged code, that holds them on this lock."""
    if not event.code:
        return None, None, None, "", None
    at = event.occurred_at
    stays = LockAccess.objects.filter(device=device, program_at__lte=at, ends_at__gt=at)
    for access in stays.select_related(
        "reservation", "turnover__assignee", "standing__crew_member"
    ):
        if event.code in (access.code, access.provider_code):
            return _holder(access)
    for code in UnmanagedCode.objects.filter(device=device).exclude(code_ciphertext=""):
        if code.code == event.code:
            return None, code, None, code.display_name, None
    return None, None, None, "", None


def _detail(kind: str, event: EventInfo) -> str:
    if kind in BATTERY_KINDS and event.battery_level is not None:
        percent = round(_clamp(event.battery_level) * 100)
        status = f" ({event.battery_status})" if event.battery_status else ""
        return f"{percent}%{status}"
    if kind == Kind.CODE_FAILED:
        if event.event_type.endswith("failed_to_remove_from_device"):
            return "The lock did not remove the code."
        return "The lock did not accept the code."
    return ""


def _clamp(level: float | None) -> float | None:
    return None if level is None else min(max(level, 0.0), 1.0)


def _is_latest(lock_event: LockEvent, kinds: list[str]) -> bool:
    """Deliveries come out of order: only the newest event of a kind sets the state."""
    return not (
        LockEvent.objects.filter(device_id=lock_event.device_id, kind__in=kinds)
        .filter(occurred_at__gt=lock_event.occurred_at)
        .exists()
    )


def _apply(lock_event: LockEvent, device: Device, event: EventInfo) -> bool:
    """The event's effects on the device and the alerts; True when the lock's unmanaged
    codes should be read again."""
    kind = lock_event.kind
    at = lock_event.occurred_at
    if kind in CONNECTIVITY and _is_latest(lock_event, CONNECTIVITY):
        online = kind == Kind.ONLINE
        lock_services.device_reported(device_id=device.pk, online=online)
        if online:
            alert_resolve(device=device, kind=Alert.OFFLINE, at=at, resolution=BACK_ONLINE)
        else:
            alert_open(
                device=device,
                kind=Alert.OFFLINE,
                at=at,
                event=lock_event,
                message="The lock is offline.",
            )
    elif kind in BATTERY_KINDS and _is_latest(lock_event, BATTERY_KINDS):
        level = lock_event.battery_level
        if level is not None:
            lock_services.device_reported(device_id=device.pk, battery_level=level)
        if kind == Kind.LOW_BATTERY:
            low = True
        elif event.battery_status:
            low = event.battery_status in LOW_STATUSES
        else:
            low = None if level is None else device.battery_is_low
        if low:
            percent = f" at {round(level * 100)}%" if level is not None else " low"
            alert_open(
                device=device,
                kind=Alert.LOW_BATTERY,
                at=at,
                event=lock_event,
                message=f"Battery{percent}.",
            )
        elif low is False:
            alert_resolve(
                device=device, kind=Alert.LOW_BATTERY, at=at, resolution=battery_fine(level)
            )
    elif kind == Kind.CODE_FAILED:
        whose = f" of {lock_event.person_name}" if lock_event.person_name else ""
        verb = "remove" if "remove" in lock_event.event_type else "set"
        alert_open(
            device=device,
            kind=Alert.CODE_FAILED,
            at=at,
            event=lock_event,
            access_code_id=lock_event.access_code_id,
            reservation=lock_event.reservation,
            message=f"The lock could not {verb} the code{whose}.",
        )
    elif kind in {Kind.CODE_SET, Kind.CODE_REMOVED} and lock_event.access_code_id:
        alert_resolve(
            device=device,
            kind=Alert.CODE_FAILED,
            at=at,
            access_code_id=lock_event.access_code_id,
            resolution=(
                "Code confirmed on the lock."
                if kind == Kind.CODE_SET
                else "Code removed from the lock."
            ),
        )
    elif kind in {Kind.UNMANAGED_ADDED, Kind.UNMANAGED_REMOVED}:
        return True
    elif kind == Kind.UNLOCKED:
        _arrival(lock_event)
        _crew_arrival(lock_event)
        unlock_hours_check(lock_event, device)
        _vacant_unlock(lock_event, device)
    # An unlock by a code nobody knows: probably made in the lock's app since the last
    # import; read the lock's unmanaged codes again to put a name on it. Seam's
    # access_code_is_managed is not trusted for this (the fake says True for them).
    return bool(kind == Kind.UNLOCKED and lock_event.access_code_id and not lock_event.person_name)


BACK_ONLINE = "Lock back online."


def battery_fine(level: float | None) -> str:
    if level is None:
        return "Battery no longer low."
    return f"Battery replaced ({round(_clamp(level) * 100)}%)."


# ---------------------------------------------------------------- arrival, vacancy

# How an unlock was made without a code: from the lock's app, by hand from inside, by the
# lock itself. Recorded and shown in the feed; never a vacant-unlock alert.
CODELESS_METHODS = frozenset({Method.APP, Method.MANUAL, Method.AUTOMATIC})


def _arrival(lock_event: LockEvent) -> None:
    """The guest's first unlock with their code marks the stay arrived.

    Attribution found the stay through one of its codes (any door, any code id it ever
    held, or the digits in its window). Events come late and out of order: the earliest
    unlock wins, with a conditional update so that concurrent deliveries agree. An unlock
    after the stay's window (a code left on the door) is no arrival.
    """
    if lock_event.reservation_id is None:
        return
    at = lock_event.occurred_at
    reservation = lock_event.reservation
    if reservation.status == Reservation.Status.CANCELLED or at >= reservation.window[1]:
        return
    stays = Reservation.objects.filter(pk=reservation.pk)
    if stays.filter(arrived_at__isnull=True).update(arrived_at=at):
        # Told once; an earlier unlock that arrives late only corrects the instant.
        signals.announce(signals.ARRIVED, reservation_id=reservation.pk, at=at)
    else:
        stays.filter(arrived_at__gt=at).update(arrived_at=at)


def _crew_valid(lock_event: LockEvent, device: Device) -> bool:
    """A turnover's code used inside its own window on this lock."""
    at = lock_event.occurred_at
    return LockAccess.objects.filter(
        turnover_id=lock_event.turnover_id,
        device=device,
        starts_at__lte=at,
        ends_at__gt=at,
    ).exists()


def _crew_arrival(lock_event: LockEvent) -> None:
    """The first unlock with a turnover's code, inside its window, marks it started."""
    if lock_event.turnover_id is None:
        return
    if _crew_valid(lock_event, lock_event.device):
        turnover_started(turnover_id=lock_event.turnover_id, at=lock_event.occurred_at)


def _vacant_unlock(lock_event: LockEvent, device: Device) -> None:
    """A guest-access door opened by a code while nobody stays there: an alert.

    A code counts when Keystay does not know it, or knows it but it was not valid at that
    instant (a past guest's code still on the door). A known unmanaged code (a cleaner's)
    inside its own times is expected; an unlock from the lock's app or by hand is shown in
    the feed but raises nothing.
    """
    at = lock_event.occurred_at
    by_code = bool(lock_event.access_code_id) or lock_event.method in {
        Method.KEYPAD,
        Method.CARD,
    }
    if not by_code or lock_event.method in CODELESS_METHODS:
        return
    code = lock_event.unmanaged_code
    if code is not None:
        after_start = code.starts_at is None or code.starts_at <= at
        if after_start and (code.ends_at is None or at < code.ends_at):
            return
    if lock_event.turnover_id is not None and _crew_valid(lock_event, device):
        return  # the crew inside their turnover's window
    if standing_is_valid(lock_event, device):
        return  # a standing code inside its dates (its hours are checked apart)
    if lock_event.reservation_id is not None:
        # The stay's own window on this lock (an override may open it earlier or later).
        valid = LockAccess.objects.filter(
            reservation_id=lock_event.reservation_id,
            device=device,
            starts_at__lte=at,
            ends_at__gt=at,
        )
        stay = lock_event.reservation
        cut = stay.ended_at is not None and at >= stay.ended_at
        if stay.status != Reservation.Status.CANCELLED and not cut and valid.exists():
            return
    listings = LockAssignment.objects.filter(device=device, guest_access=True).values("listing_id")
    if not listings.exists():
        return  # a door guests never use (a storeroom): no stay could make it occupied
    if _occupied(listings, at):
        return
    if lock_event.reservation_id is not None:
        whose = f"the code of {lock_event.reservation.guest_name}, whose stay was not on"
    elif lock_event.person_name:
        whose = f"the code “{lock_event.person_name}” outside its times"
    elif lock_event.access_code_id:
        whose = "a code Keystay does not know"
    else:
        whose = "the keypad"
    alert_open(
        device=device,
        kind=Alert.VACANT_UNLOCK,
        at=at,
        event=lock_event,
        access_code_id=lock_event.provider_event_id,
        reservation=lock_event.reservation,
        message=f"Unlocked with {whose}, while no stay was under way.",
    )


# A listing's buffers are at most a day each (properties' validators); stays further
# from the instant cannot hold it in their window.
MAX_BUFFER = datetime.timedelta(days=1)


def _occupied(listings, at: datetime.datetime) -> bool:
    """Whether a stay was under way at `at` at one of these listings (its window holds
    `at`). A stay checked out since still counts: the event may be processed late."""
    near = Reservation.objects.filter(
        listing_id__in=listings,
        status__in=[Reservation.Status.CONFIRMED, Reservation.Status.CHECKED_OUT],
        check_in__lte=at + MAX_BUFFER,
        check_out__gte=at - MAX_BUFFER,
    ).select_related("listing")
    for reservation in near:
        starts, ends = reservation.window
        if starts <= at < ends:
            return True
    return False


def _reconcile_lock_later(device_id: int) -> None:
    from django_q.tasks import async_task

    # robust: without the broker (Redis restarting) the periodic read-back does it; the
    # event that asked is recorded all the same.
    transaction.on_commit(
        lambda: async_task("reservations.tasks.reconcile_lock", device_id, group="reconcile"),
        robust=True,
    )


def _refresh_unmanaged_codes_later(connection_id: int, device_id: int) -> None:
    from django_q.tasks import async_task

    transaction.on_commit(
        lambda: async_task(
            "locks.tasks.import_unmanaged_codes", connection_id, device_id, group="unmanaged"
        ),
        robust=True,  # as above: the periodic import catches up
    )


# -------------------------------------------------------------------------- reconcile


def events_reconcile(
    *, connection: LockProviderConnection, now: datetime.datetime | None = None
) -> Counter:
    """List Seam's events since the last listing and record those not seen yet.

    Covers webhook deliveries that never came (Keystay down, webhook not set up). On a
    provider failure the error is kept on the connection and raised; the next run starts
    from the same point.
    """
    now = now or timezone.now()
    if connection.events_cursor is not None:
        since = connection.events_cursor - RECONCILE_OVERLAP
    else:
        since = now - FIRST_LOOKBACK
    since = max(since, now - MAX_LOOKBACK)
    try:
        with SeamGateway.for_connection(connection) as gateway:
            batch = gateway.list_events(since=since, until=now, event_types=sorted(EVENT_KINDS))
    except ProviderError as error:
        lock_services.connection_events_failed(connection=connection, error=error.message)
        raise
    devices = {d.provider_device_id: d for d in connection.devices.all()}
    outcomes: Counter = Counter()
    for event in batch.events:
        outcomes[event_record(connection=connection, event=event, devices=devices)] += 1
    lock_services.connection_events_listed(
        connection=connection, until=batch.complete_until, at=now
    )
    logger.info("Events of connection %s reconciled: %s", connection.pk, dict(outcomes))
    return outcomes


# ----------------------------------------------------------------------------- alerts


def alerts_sync_from_devices(*, connection: LockProviderConnection) -> None:
    """Open or resolve offline and low-battery alerts from what the import just read."""
    now = timezone.now()
    devices = list(connection.devices.select_related("organization"))
    open_now = set(
        DeviceAlert.objects.filter(
            device__connection=connection,
            kind__in=[Alert.OFFLINE, Alert.LOW_BATTERY],
            resolved_at__isnull=True,
        ).values_list("device_id", "kind")
    )
    new: list[DeviceAlert] = []
    # Resolved alerts say how: grouped by (kind, resolution), one update each.
    resolve: dict[tuple[str, str], list[int]] = {}
    for device in devices:
        present = device.removed_at is None
        problems = {
            Alert.OFFLINE: (present and not device.online, "The lock is offline."),
            Alert.LOW_BATTERY: (
                present and device.battery_is_low,
                f"Battery at {device.battery_percent}%.",
            ),
        }
        for kind, (active, message) in problems.items():
            is_open = (device.pk, kind) in open_now
            if active and not is_open:
                new.append(
                    DeviceAlert(
                        organization_id=device.organization_id,
                        device=device,
                        kind=kind,
                        message=message,
                        opened_at=now,
                    )
                )
            elif is_open and not active:
                if not present:
                    resolution = "Lock removed at the provider."
                elif kind == Alert.OFFLINE:
                    resolution = BACK_ONLINE
                else:
                    resolution = battery_fine(device.battery_level)
                resolve.setdefault((kind, resolution), []).append(device.pk)
    if new:
        DeviceAlert.objects.bulk_create(new, ignore_conflicts=True)
    for (kind, resolution), device_ids in resolve.items():
        DeviceAlert.objects.filter(
            device_id__in=device_ids, kind=kind, resolved_at__isnull=True
        ).update(resolved_at=now, resolution=resolution)
