"""Leftover codes: codes other systems left on the locks, removed by a manager's word.

Codes made outside Keystay (an old PMS's, Airbnb's own lock connection, a departed
cleaner's) take the few slots a lock has. A manager marks such an unmanaged code as a
*leftover* (one by one, or every unmanaged code on the locks whose name matches a
pattern), then confirms its removal on a page that names each door and code. That is the
only way Keystay deletes a code it did not make: an explicit, recorded act of a person
(`LeftoverRemoval`), refused for any code a Keystay record says is a guest's or a crew
member's (the apps above answer `unmanaged_codes_claimed`; this app cannot read their
records).

A removal is due work, like a lock access: the worker claims each due row with a
compare-and-set, calls Seam outside any database lock, and records the outcome. A
provider failure is retried with a growing delay and shown on the page, never dropped;
the code counts as removed only once the next read of the lock's unmanaged codes no
longer lists it.
"""

from __future__ import annotations

import datetime
import fnmatch
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from . import pacing
from .gateway import ProviderError, SeamGateway
from .models import Device, LeftoverRemoval, UnmanagedCode
from .services import device_back_off
from .signals import unmanaged_codes_claimed
from .unmanaged import unmanaged_codes_read_device

logger = logging.getLogger(__name__)

State = LeftoverRemoval.State

# A claimed removal belongs to its worker this long (LOCK_STEP_LEASE_SECONDS).
LEASE = datetime.timedelta(seconds=settings.LOCK_STEP_LEASE_SECONDS)
RETRY_BASE = datetime.timedelta(seconds=30)
RETRY_MAX = datetime.timedelta(minutes=30)
# Seam accepted the deletion but the lock still lists the code: read again after this…
CONFIRM_AGAIN_AFTER = datetime.timedelta(minutes=1)
# …and ask again once this long has passed since the deletion was sent.
RESEND_AFTER = datetime.timedelta(minutes=10)


def retry_delay(attempts: int) -> datetime.timedelta:
    """How long a removal waits before its next try after `attempts` failures."""
    return min(RETRY_BASE * 2 ** max(attempts - 1, 0), RETRY_MAX)


# ------------------------------------------------------------------------ which codes


def lock_name_matches(name: str, pattern: str) -> bool:
    """A lock's name against a manager's pattern, ignoring case: `*` stands for any
    text and `?` for one character ("Unit 4*"); a pattern without either matches
    anywhere in the name ("gate" matches "Garden Gate")."""
    pattern = pattern.strip().casefold()
    if not pattern:
        return False
    name = name.casefold()
    if "*" in pattern or "?" in pattern:
        # [ and ] stay literal: lock names are not character classes.
        return fnmatch.fnmatchcase(name, pattern.replace("[", "[[]"))
    return pattern in name


def codes_on_matching_locks(codes: Iterable[UnmanagedCode], pattern: str) -> list[UnmanagedCode]:
    """The unmanaged codes (with their device) on locks whose name matches `pattern`."""
    return [code for code in codes if lock_name_matches(code.device.name, pattern)]


def claims(codes: list[UnmanagedCode]) -> dict[int, str]:
    """Codes that a Keystay record says are a guest's or a crew member's: pk → why.

    Asked of the apps above (they hold those records); any one answer refuses the code.
    """
    if not codes:
        return {}
    found: dict[int, str] = {}
    for _receiver, answer in unmanaged_codes_claimed.send(sender=UnmanagedCode, codes=codes):
        for pk, reason in (answer or {}).items():
            found.setdefault(pk, reason)
    return found


# ------------------------------------------------------------------------ marking


@dataclass
class MarkResult:
    marked: list[UnmanagedCode] = field(default_factory=list)
    refused: list[tuple[UnmanagedCode, str]] = field(default_factory=list)


def leftovers_mark(
    *, codes: Iterable[UnmanagedCode], user, now: datetime.datetime | None = None
) -> MarkResult:
    """Mark unmanaged codes as leftovers (those not marked yet); a code Keystay holds as
    a guest's or crew member's is refused and stays unmarked."""
    now = now or timezone.now()
    codes = [code for code in codes if code.leftover_at is None]
    result = MarkResult()
    refused = claims(codes)
    for code in codes:
        if code.pk in refused:
            result.refused.append((code, refused[code.pk]))
        else:
            result.marked.append(code)
    if result.marked:
        UnmanagedCode.objects.filter(
            pk__in=[c.pk for c in result.marked], leftover_at__isnull=True
        ).update(leftover_at=now, leftover_by=user)
        for code in result.marked:
            code.leftover_at, code.leftover_by = now, user
    return result


def leftovers_unmark(*, codes: Iterable[UnmanagedCode]) -> int:
    """Take the leftover mark off codes (those with no removal under way)."""
    pks = [code.pk for code in codes]
    open_removals = LeftoverRemoval.objects.filter(
        unmanaged_code_id__in=pks, state__in=LeftoverRemoval.OPEN_STATES
    ).values("unmanaged_code_id")
    return (
        UnmanagedCode.objects.filter(pk__in=pks)
        .exclude(pk__in=open_removals)
        .update(leftover_at=None, leftover_by=None)
    )


# ------------------------------------------------------------------------ removal


@dataclass
class RemovalRequest:
    queued: list[LeftoverRemoval] = field(default_factory=list)
    already: list[UnmanagedCode] = field(default_factory=list)  # a removal is under way
    refused: list[tuple[UnmanagedCode, str]] = field(default_factory=list)


def _removal(code: UnmanagedCode, user, now, **fields) -> LeftoverRemoval:
    return LeftoverRemoval(
        organization_id=code.organization_id,
        device_id=code.device_id,
        unmanaged_code=code,
        provider_id=code.provider_id,
        code_name=code.display_name,
        code_hint=code.hint,
        requested_by=user,
        requested_by_name=user.get_username() if user is not None else "",
        requested_at=now,
        **fields,
    )


def leftover_removals_request(
    *, codes: Iterable[UnmanagedCode], user, now: datetime.datetime | None = None
) -> RemovalRequest:
    """A manager confirmed the removal of these leftovers: one removal each, due now.

    Codes must be marked leftover (others are ignored). Each is checked again: a guest's
    code with the same digits may have been planned since it was marked; such a code is
    refused (recorded as refused, and its mark taken off), never sent to the provider.
    """
    now = now or timezone.now()
    codes = [code for code in codes if code.leftover_at is not None]
    result = RemovalRequest()
    refused = claims(codes)
    with transaction.atomic():
        for code in codes:
            if code.pk in refused:
                reason = refused[code.pk]
                _removal(
                    code, user, now, state=State.REFUSED, finished_at=now, result=reason
                ).save()
                UnmanagedCode.objects.filter(pk=code.pk).update(leftover_at=None, leftover_by=None)
                result.refused.append((code, reason))
                continue
            removal = _removal(code, user, now, state=State.QUEUED, due_at=now)
            try:
                with transaction.atomic():  # the open-removal constraint: one per code
                    removal.save()
            except IntegrityError:
                result.already.append(code)
            else:
                result.queued.append(removal)
        if result.queued:
            _work_soon()
    for removal in result.queued:
        logger.info(
            "Leftover code %s on device %s: removal requested by user %s",
            removal.provider_id,
            removal.device_id,
            getattr(user, "pk", None),
        )
    return result


def _work_soon() -> None:
    from django_q.tasks import async_task

    # robust: without the broker (Redis restarting) the periodic run does it; the
    # manager's confirmation is recorded all the same.
    transaction.on_commit(
        lambda: async_task("locks.tasks.remove_leftovers", group="leftovers"), robust=True
    )


# ------------------------------------------------------------------------ the worker


def _unclaimed(now) -> Q:
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def _claim(pk: int, now) -> str | None:
    token = uuid.uuid4().hex
    claimed = (
        LeftoverRemoval.objects.filter(
            pk=pk, state__in=LeftoverRemoval.OPEN_STATES, due_at__lte=now
        )
        .filter(_unclaimed(now))
        .update(claimed_until=now + LEASE, claim_token=token)
    )
    return token if claimed else None


def _save(removal: LeftoverRemoval, token: str, **fields) -> None:
    """Record an outcome and let the row go, if this worker still holds it."""
    fields.update(claimed_until=None, claim_token="")
    LeftoverRemoval.objects.filter(pk=removal.pk, claim_token=token).update(**fields)


def leftover_removals_run_due(*, now: datetime.datetime | None = None, limit: int = 200) -> int:
    """Work every removal that is due (each claimed first); returns how many were worked.

    Lock by lock: the lock's deletions are sent, then one read of its unmanaged codes
    confirms all of them. One Seam client per connection; one lock's failure holds up no
    other lock.
    """
    now = now or timezone.now()
    due = list(
        LeftoverRemoval.objects.filter(state__in=LeftoverRemoval.OPEN_STATES, due_at__lte=now)
        .filter(_unclaimed(now))
        .order_by("due_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    by_lock: dict[int, list[tuple[LeftoverRemoval, str]]] = {}
    for pk in due:
        token = _claim(pk, now)
        if token is None:
            continue  # another worker took it
        removal = LeftoverRemoval.objects.select_related(
            "device__connection", "unmanaged_code"
        ).get(pk=pk)
        batch = by_lock.setdefault(removal.device_id, [])
        if batch:
            # One Device object per lock: a 429 on one removal holds back the next.
            removal.device = batch[0][0].device
        batch.append((removal, token))
    gateways: dict[int, SeamGateway] = {}
    try:
        for batch in by_lock.values():
            connection = batch[0][0].device.connection
            try:
                if connection.pk not in gateways:
                    gateways[connection.pk] = SeamGateway.for_connection(connection)
            except ProviderError as error:
                for removal, token in batch:
                    _failed(removal, token, error, now)
                continue
            _work_lock(batch, gateways[connection.pk], now)
    finally:
        for gateway in gateways.values():
            gateway.close()
    return sum(len(batch) for batch in by_lock.values())


def _failed(removal: LeftoverRemoval, token: str, error: ProviderError, now) -> None:
    """A provider failure: shown on the removal; retried unless Seam refused the request
    as it is (then shown as failed, and the manager may ask again)."""
    attempts = removal.attempts + 1
    fields = {"attempts": attempts, "last_error": error.message, "last_error_at": now}
    if error.refused:
        fields.update(state=State.FAILED, due_at=None, finished_at=now, result=error.message)
    else:
        wait = retry_delay(attempts)
        if error.retry_after is not None:
            wait = max(wait, datetime.timedelta(seconds=error.retry_after))
        fields["due_at"] = now + wait
        if error.kind == "rate_limited":
            # Seam's 429 is about the lock: Keystay's other work on it waits too.
            removal.device.backoff_until = now + wait
            device_back_off(device_id=removal.device_id, until=now + wait)
    logger.warning(
        "Leftover removal %s (device %s): %s", removal.pk, removal.device_id, error.message
    )
    _save(removal, token, **fields)


def _work_lock(batch: list[tuple[LeftoverRemoval, str]], gateway: SeamGateway, now) -> None:
    """One lock's due removals: send those waiting, then confirm every sent one with one
    read of the lock's unmanaged codes."""
    device: Device = batch[0][0].device
    if device.removed_at is not None:
        # Gone at the provider with its codes: nothing left to remove, nothing to read.
        for removal, token in batch:
            _save(
                removal,
                token,
                state=State.FAILED,
                due_at=None,
                finished_at=now,
                result="The lock is gone at the provider: its codes cannot be read or removed.",
            )
        return
    to_confirm = []
    for removal, token in batch:
        if removal.state == State.QUEUED:
            try:
                if not _send(removal, token, gateway, now):
                    continue
            except ProviderError as error:
                _failed(removal, token, error, now)
                continue
        to_confirm.append((removal, token))
    if not to_confirm:
        return
    # Sent: confirmed only by a read of the lock's unmanaged codes that no longer lists it.
    try:
        listed = {
            info.provider_id
            for info in unmanaged_codes_read_device(device=device, gateway=gateway, now=now)
        }
    except ProviderError as error:
        for removal, token in to_confirm:
            _failed(removal, token, error, now)
        return
    for removal, token in to_confirm:
        _confirm(removal, token, listed, now)


def _send(removal: LeftoverRemoval, token: str, gateway: SeamGateway, now) -> bool:
    """Ask Seam to delete the code; False when it is not sent now (refused as a Keystay
    code, or the lock must wait: Seam's back-off or Keystay's own pacing)."""
    device = removal.device
    if device.backoff_until and device.backoff_until > now:
        _save(removal, token, due_at=device.backoff_until)
        return False
    code = removal.unmanaged_code
    if code is not None:
        # Checked again at the last moment: a stay may have taken these digits since.
        refused = claims([code])
        if code.pk in refused:
            _save(
                removal,
                token,
                state=State.REFUSED,
                due_at=None,
                finished_at=now,
                result=refused[code.pk],
            )
            UnmanagedCode.objects.filter(pk=code.pk).update(leftover_at=None, leftover_by=None)
            return False
    try:
        pacing.write_take(device.pk, "delete")
    except pacing.Paced as paced:
        _save(removal, token, due_at=paced.until)  # Keystay's own pause: no failure
        return False
    gateway.delete_unmanaged_code(provider_id=removal.provider_id)
    removal.state, removal.sent_at = State.SENT, now
    LeftoverRemoval.objects.filter(pk=removal.pk, claim_token=token).update(
        state=State.SENT, sent_at=now
    )
    return True


def _confirm(removal: LeftoverRemoval, token: str, listed: set[str], now) -> None:
    if removal.provider_id not in listed:
        _save(
            removal,
            token,
            state=State.REMOVED,
            due_at=None,
            finished_at=now,
            last_error="",
            result="Confirmed gone: the lock's list of codes no longer has it.",
        )
        logger.info(
            "Leftover code %s removed from device %s", removal.provider_id, removal.device_id
        )
        return
    attempts = removal.attempts + 1
    still = "Seam accepted the removal, but the lock still lists the code"
    if removal.sent_at and now - removal.sent_at >= RESEND_AFTER:
        _save(
            removal,
            token,
            state=State.QUEUED,
            attempts=attempts,
            due_at=now,
            last_error=f"{still}: asking again.",
            last_error_at=now,
        )
    else:
        _save(
            removal,
            token,
            attempts=attempts,
            due_at=now + CONFIRM_AGAIN_AFTER,
            last_error=f"{still}; reading it again shortly.",
            last_error_at=now,
        )
