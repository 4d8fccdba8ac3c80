"""Before the guest arrives: check that every guest-access lock confirmed the code.

At each of the listing's check hours before check-in (`Listing.prearrival_hours`, "24,2" by
default) Keystay reads each lock of the stay back from the provider and judges it:
- passed: the lock access is CONFIRMED (the lock reported the code set);
- too fresh: the code reached the provider less than 15 minutes ago; the lock is not
  judged yet and the stay is checked again 15 minutes later (while before check-in);
- cannot be confirmed: the provider never reports codes set on this door (an
  access-control entrance), or it only puts the code on the lock when its window opens
  (a lock without native scheduling, before the window): shown as unconfirmed, and raised
  only at the last check;
- held for verification: the stay's code is held until its guest is verified
  (reservations.verification), so no lock holds it on purpose: no alert, no retry here;
- failed: anything else (sent long ago and not confirmed, failed on the lock, never sent).
  The lock is retried at once (its code is sent again), a backup code is pulled where the
  lock uses the pool, the stay is raised on the dashboard (one open alert per stay and
  lock) and the organization's managers are emailed once per problem: a later check of
  the same unresolved problem raises nothing new. The alert is resolved when the lock
  confirms the code (readback) or a later check finds it confirmed.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from core.public_url import absolute_url
from locks.gateway import ProviderError, SeamGateway
from locks.models import Device

from . import access_states, readback
from .access_states import access_log
from .alerts import alert_open, managers_email
from .models import DeviceAlert, LockAccess, LockAccessLog, Reservation
from .planning import enqueue_processing
from .prearrival_times import PREARRIVAL_RECHECK, prearrival_next

logger = logging.getLogger(__name__)

State = LockAccess.State
Log = LockAccessLog.Kind
Alert = DeviceAlert.Kind

# A code is judged once it has been at the provider this long: a lock takes a while to
# take a code and report it.
CODE_SETTLE = datetime.timedelta(minutes=15)
# A claimed check belongs to its worker this long; one that died is taken again after it.
CHECK_LEASE = datetime.timedelta(minutes=5)

PASSED, TOO_FRESH, NOT_YET_SENT, UNCONFIRMABLE, FAILED, HELD = (
    "passed",
    "too fresh",
    "not yet sent",
    "cannot be confirmed",
    "failed",
    "held for verification",
)


@dataclass
class CheckResult:
    verdicts: dict[int, str] = field(default_factory=dict)  # lock access id -> verdict
    alerts_opened: list[DeviceAlert] = field(default_factory=list)
    backups_pulled: int = 0
    emailed: int = 0
    next_check_at: datetime.datetime | None = None


def _verdict(access: LockAccess, device: Device, now: datetime.datetime) -> str:
    if access.state == State.CONFIRMED:
        return PASSED
    if access.state != State.FAILED:
        if device.kind == Device.Kind.ACS_ENTRANCE:
            return UNCONFIRMABLE  # Seam reports no "set" for an entrance's credential
        if not device.supports_native_scheduling and now < access.starts_at:
            return UNCONFIRMABLE  # Seam puts the code on the lock when the window opens
        if access.programmed_at is None and now < access.program_at:
            return NOT_YET_SENT  # a short lead time: its own step comes later
        sent = access.programmed_at or access.program_at
        in_flight = access.claimed_until is not None and access.claimed_until > now
        if in_flight or (access.state != State.PLANNED and sent > now - CODE_SETTLE):
            return TOO_FRESH
        if access.state == State.PLANNED and access.program_at > now - CODE_SETTLE:
            return TOO_FRESH  # due just now: the worker is on its way
    return FAILED


def _alert_key(access: LockAccess) -> str:
    # The open-alert constraint is per lock, kind and code: a code not yet at the
    # provider is named as Keystay names its codes, so two stays never share a key.
    return access.provider_id or f"KS{access.reservation_id}-{access.device_id}"


def prearrival_alerts_resolve(*, access: LockAccess, now: datetime.datetime) -> None:
    """The lock confirmed the code (or the stay no longer needs it): its pre-arrival
    alert, if any, is resolved. The readback does the same when the lock reports it."""
    readback.prearrival_resolved(access, now)


def _open_alert(
    access: LockAccess, reservation: Reservation, message: str, now
) -> DeviceAlert | None:
    """Open the stay's alert for this lock; None when one is open already (no new email)."""
    return alert_open(
        device=access.device,
        kind=Alert.PREARRIVAL_FAILED,
        at=now,
        access_code_id=_alert_key(access),
        reservation=reservation,
        message=message,
    )


def _pull_backup(access: LockAccess, gateway: SeamGateway, now) -> bool:
    """Keep a backup code from the lock's pool on this lock access (this stay's alone)."""
    device = access.device
    if not (
        device.use_backup_pool
        and device.supports_backup_access_code_pool
        and access.provider_id
        and not access.backup_provider_id
    ):
        return False
    try:
        backup = gateway.pull_backup_access_code(provider_id=access.provider_id)
    except ProviderError as error:
        logger.warning("Lock access %s: no backup code: %s", access.pk, error.message)
        return False
    # Valid for the stay's window only: Seam removes a pulled backup code after the
    # original code's window; Keystay shows the narrower of the two.
    starts = max(filter(None, [backup.starts_at, access.starts_at]))
    ends = min(filter(None, [backup.ends_at, access.ends_at]))
    access_states.backup_record(
        access, provider_id=backup.provider_id, code=backup.code, window=(starts, ends), now=now
    )
    return True


def _read_back(devices: list[Device], gateways: dict[int, SeamGateway], now) -> None:
    """What each lock holds now, from the provider (the same rules as the readback)."""
    for device in devices:
        if device.kind != Device.Kind.LOCK:
            continue
        try:
            readback.lock_reconcile(device=device, gateway=gateways[device.connection_id], now=now)
        except ProviderError as error:
            # Judged on what Keystay knew last: unconfirmed stays unconfirmed.
            logger.warning("Pre-arrival read-back of lock %s: %s", device.pk, error.message)


def prearrival_check(*, reservation: Reservation, now: datetime.datetime) -> CheckResult:
    """Run one pre-arrival check of a stay's locks; returns what it found and did.

    Does not schedule the next check (see `prearrival_run`), but says when it is due.
    """
    result = CheckResult()
    reservation = Reservation.objects.select_related("listing__property").get(pk=reservation.pk)
    accesses = list(
        reservation.lock_accesses.filter(wanted=True, ends_at__gt=now)
        .exclude(state__in=LockAccess.FINAL_STATES)
        .select_related("device__connection")
    )
    if not reservation.is_live or now >= reservation.check_in:
        for access in accesses:
            prearrival_alerts_resolve(access=access, now=now)
        return result
    if reservation.code_held:
        # Held until the guest is verified: not on the lock on purpose, which is no lock
        # failure (reservations.verification raises the stay itself). Checked again at
        # the next check hour, in case the guest is verified by then.
        for access in accesses:
            result.verdicts[access.pk] = HELD
        result.next_check_at = prearrival_next(reservation=reservation, after=now)
        return result
    last = prearrival_next(reservation=reservation, after=now) is None
    devices = {a.device_id: a.device for a in accesses}
    gateways: dict[int, SeamGateway] = {}
    try:
        for device in devices.values():
            if device.connection_id not in gateways:
                gateways[device.connection_id] = SeamGateway.for_connection(device.connection)
        _read_back(list(devices.values()), gateways, now)
        fresh = {
            a.pk: a
            for a in LockAccess.objects.filter(pk__in=[a.pk for a in accesses]).select_related(
                "device__connection"
            )
        }
        failing: list[tuple[LockAccess, DeviceAlert]] = []
        for access in fresh.values():
            verdict = _verdict(access, access.device, now)
            result.verdicts[access.pk] = verdict
            if verdict == PASSED:
                prearrival_alerts_resolve(access=access, now=now)
                continue
            if verdict == UNCONFIRMABLE and last:
                alert = _open_alert(
                    access,
                    reservation,
                    "The provider does not confirm codes on this door: check it before "
                    "the guest arrives.",
                    now,
                )
                if alert is not None:
                    failing.append((access, alert))
                    result.alerts_opened.append(alert)
                continue
            if verdict != FAILED:
                continue
            hours = round((reservation.check_in - now).total_seconds() / 3600)
            retried = access_states.send_again(access, now=now)
            access_log(
                access,
                [
                    (
                        Log.NOT_CONFIRMED,
                        "",
                        f"{hours} h before check-in: "
                        + ("sent again." if retried else "a worker is on it."),
                    )
                ],
                source=LockAccessLog.Source.WORKER,
                at=now,
            )
            gateway = gateways.get(access.device.connection_id)
            if gateway is not None and _pull_backup(access, gateway, now):
                result.backups_pulled += 1
            message = f"Not confirmed by the lock {hours} h before check-in"
            if access.last_error:
                message += f": {access.last_error}"
            alert = _open_alert(access, reservation, message, now)
            if alert is not None:
                failing.append((access, alert))
                result.alerts_opened.append(alert)
    finally:
        for gateway in gateways.values():
            gateway.close()
    if any(v == FAILED for v in result.verdicts.values()):
        reservation_id = reservation.pk
        transaction.on_commit(lambda: enqueue_processing(reservation_id))
    if failing:
        result.emailed = _email_managers(reservation, failing)
    upcoming = prearrival_next(reservation=reservation, after=now)
    if TOO_FRESH in result.verdicts.values():
        recheck = now + PREARRIVAL_RECHECK
        if recheck < reservation.check_in and (upcoming is None or recheck < upcoming):
            upcoming = recheck
    result.next_check_at = upcoming
    return result


def _reservation_url(reservation: Reservation) -> str:
    return absolute_url(reverse("admin:reservations_reservation_change", args=[reservation.pk]))


def _email_managers(
    reservation: Reservation, failing: list[tuple[LockAccess, DeviceAlert]]
) -> int:
    """One email to the organization's managers naming each newly raised lock."""
    listing = reservation.listing
    zone = listing.property.zone
    check_in = timezone.localtime(reservation.check_in, zone).strftime("%A %Y-%m-%d %H:%M %Z")
    locks = ", ".join(access.device.name for access, _ in failing)
    lines = [
        f"{reservation.guest_name}'s code is not confirmed on every lock of {listing}.",
        "",
        f"Guest: {reservation.guest_name}",
        f"Listing: {listing} ({listing.property})",
        f"Check-in: {check_in}",
        "",
    ]
    for access, alert in failing:
        lines.append(f"- {access.device.name}: {alert.message}")
        if access.backup_provider_id:
            lines.append("  A backup code is ready on the reservation page.")
    lines += [
        "",
        "Keystay is sending the code again and will tell you no more about these locks "
        "until they confirm it.",
        f"Reservation: {_reservation_url(reservation)}",
    ]
    return managers_email(
        organization_id=reservation.organization_id,
        subject=f"Code not confirmed on {locks} for {reservation.guest_name} ({listing})",
        lines=lines,
        about=f"the pre-arrival check of reservation {reservation.pk}",
    )


def _claim(pk: int, due: datetime.datetime, now: datetime.datetime) -> datetime.datetime | None:
    """Take one due check (compare-and-set): returns the lease instant, None if taken."""
    lease = now + CHECK_LEASE
    taken = Reservation.objects.filter(pk=pk, prearrival_check_at=due).update(
        prearrival_check_at=lease
    )
    return lease if taken else None


def prearrival_run(*, reservation_id: int, now: datetime.datetime | None = None) -> str:
    """Claim and run one stay's due check, then schedule its next one."""
    now = now or timezone.now()
    due = (
        Reservation.objects.filter(pk=reservation_id, prearrival_check_at__lte=now)
        .values_list("prearrival_check_at", flat=True)
        .first()
    )
    if due is None:
        return "not due"
    lease = _claim(reservation_id, due, now)
    if lease is None:
        return "taken by another worker"
    # No transaction around it: the provider is called outside any database lock (a
    # worker that dies leaves the lease, and the check runs again once it is over).
    result = prearrival_check(reservation=Reservation(pk=reservation_id), now=now)
    # A re-plan meanwhile (new dates) has rescheduled it: that schedule wins.
    Reservation.objects.filter(pk=reservation_id, prearrival_check_at=lease).update(
        prearrival_check_at=result.next_check_at
    )
    counts: dict[str, int] = {}
    for verdict in result.verdicts.values():
        counts[verdict] = counts.get(verdict, 0) + 1
    return ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) or "no locks"


NOT_RUN = frozenset({"not due", "taken by another worker"})


def prearrival_run_due(*, now: datetime.datetime | None = None, limit: int = 200) -> int:
    """Run every due pre-arrival check (nearest check-in first); returns how many ran."""
    now = now or timezone.now()
    ids = list(
        Reservation.objects.filter(prearrival_check_at__lte=now)
        .order_by("check_in")
        .values_list("pk", flat=True)[:limit]
    )
    ran = 0
    for pk in ids:
        try:
            if prearrival_run(reservation_id=pk, now=now) not in NOT_RUN:
                ran += 1
        except Exception:  # one stay's failure must not hold up the others
            logger.exception("Pre-arrival check of reservation %s failed", pk)
    return ran


def backup_code_share(*, access: LockAccess, shared_by, now=None) -> None:
    """Staff share the backup code with the guest: recorded on the lock's history."""
    now = now or timezone.now()
    if not access.backup_provider_id:
        raise ValidationError("This lock has no backup code.")
    if not access.wanted or now >= (access.backup_ends_at or access.ends_at):
        raise ValidationError("This backup code belonged to the stay's window, now over.")
    who = getattr(shared_by, "get_username", lambda: str(shared_by))()
    access_states.backup_shared(access, by=who, now=now)
