"""A lock access's states: which moves are allowed, and the one writer of them.

`LockAccess.state` says what the provider holds of one lock's code. Every module that
changes it (planning, the provisioning worker, the read-back, provider events, the
pre-arrival check, management commands) calls a function of this module; none assigns a
state itself, and tests/core/test_layering.py holds every other module to that.
`TRANSITIONS` is the single table of allowed moves, like the reservation's
`STATUS_TRANSITIONS`: a move not in it raises `IllegalTransition`. A move to the state the
row already has is no move, and always allowed. `ACTIVE` is derived (a confirmed code
inside its window, `LockAccess.current_state`) and never stored.

Three ways to write a state, matching how each caller holds the row:
- `move`: on a row the caller has locked (select_for_update) or is creating; the caller
  saves it with its other fields, in the same transaction.
- `claim`: the worker takes a due row it read and begins its step, claim and state in one
  compare-and-set on the row as it read it.
- `move_claimed`: a compare-and-set on a claim token the worker already holds.
- `write_unclaimed`: the read-back's compare-and-set that never touches a row a worker
  holds right now.
`restore` undoes the worker's own move when it gives a row back untouched (a rate limit).
The other writes to a lock access made outside planning and the worker (retries asked by
staff, the pre-arrival check or `process_due --now`; backup codes) are here too.

Evidence: a move that follows something the provider or the lock said (requested,
confirmed, failed, removed, adopted, missing) writes it on the lock-access log
(`access_log`, given as `evidence`); moves that follow Keystay's own plan (a re-plan, the
worker taking a row) have the plan as their cause and write none, as before.

A holder other than a reservation (a cleaner's turnover code) needs nothing here: the
states and moves speak of a code on a lock, not of a stay. `docs/lock-access-states.md`
draws `TRANSITIONS` (`mermaid()`), and a test keeps the two equal.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from core.bulk_insert import insert_many, update_many
from core.row_update import update_row

from .models import LockAccess, LockAccessLog

State = LockAccess.State

# Which state a lock access may take next. Read a row as "from -> to":
TRANSITIONS: dict[str, frozenset[str]] = {
    # Waiting for its instant; or held (the stay now awaits its guest's verification),
    # adopted straight to requested (a create whose answer was lost), confirmed by a lock
    # that reports it, failed (a code no lock accepts), or leaving before it ever reached
    # the provider.
    State.PLANNED: frozenset(
        {
            State.HELD,
            State.PROGRAMMING,
            State.REQUESTED,
            State.CONFIRMED,
            State.FAILED,
            State.REMOVING,
            State.REMOVED,
            State.REVOKED,
        }
    ),
    # Held until the guest is verified (never due, on no lock): planned once verified,
    # failed when no code fits, gone when the stay is cancelled or its lock leaves it.
    State.HELD: frozenset({State.PLANNED, State.FAILED, State.REMOVED, State.REVOKED}),
    # A worker is sending it: the provider took it (requested), the lock already holds it
    # (confirmed), it failed, it was woken early or found missing (back to planned), or
    # the plan changed meanwhile (removing, or gone before it reached the provider); or
    # held, when a worker died sending it and the stay is held since.
    State.PROGRAMMING: frozenset(
        {
            State.PLANNED,
            State.HELD,
            State.REQUESTED,
            State.CONFIRMED,
            State.FAILED,
            State.REMOVING,
            State.REMOVED,
            State.REVOKED,
        }
    ),
    # At the provider, not yet reported by the lock.
    State.REQUESTED: frozenset({State.PLANNED, State.CONFIRMED, State.FAILED, State.REMOVING}),
    # Reported on the lock. Back to requested when its code or window changes; to planned
    # when the provider no longer lists it (re-created); failed when the lock reports so.
    State.CONFIRMED: frozenset({State.PLANNED, State.REQUESTED, State.FAILED, State.REMOVING}),
    # Tried again (programming, or planned after a re-plan), or the lock reports it late
    # (requested, confirmed), or it leaves.
    State.FAILED: frozenset(
        {
            State.PLANNED,
            State.HELD,
            State.PROGRAMMING,
            State.REQUESTED,
            State.CONFIRMED,
            State.REMOVING,
            State.REMOVED,
            State.REVOKED,
        }
    ),
    # Leaving the lock; or wanted again before it left (planned, programming, and what the
    # provider then reports), or the removal failed.
    State.REMOVING: frozenset(
        {
            State.PLANNED,
            State.PROGRAMMING,
            State.REQUESTED,
            State.CONFIRMED,
            State.FAILED,
            State.REMOVED,
            State.REVOKED,
        }
    ),
    # Gone. A lock given back to the stay before its window ends starts again (planned,
    # or held while the guest is not verified);
    # a lock reporting a failed removal after all puts it back to removing; a stay
    # cancelled after its window ended turns removed into revoked; a re-plan that finds
    # no code every lock of the stay accepts marks each of them failed, this one too.
    State.REMOVED: frozenset(
        {State.PLANNED, State.HELD, State.FAILED, State.REMOVING, State.REVOKED}
    ),
    State.REVOKED: frozenset(
        {State.PLANNED, State.HELD, State.FAILED, State.REMOVING, State.REMOVED}
    ),
}

# Stored states, in the order the diagram lists them.
STORED_STATES = tuple(TRANSITIONS)


class IllegalTransition(ValueError):
    """A lock access asked to move where TRANSITIONS does not allow."""


def allowed(current: str, to: str) -> bool:
    return current == to or to in TRANSITIONS[current]


def check(current: str, to: str) -> None:
    if not allowed(current, to):
        raise IllegalTransition(f"A lock access cannot go from {current} to {to}.")


Evidence = Iterable[tuple[str, str, str]]


def access_log(
    access: LockAccess, entries: Evidence, *, source: str, at, event_id: str = ""
) -> None:
    """Write what happened to one lock's code on its history (see LockAccessLog):
    (kind, provider id, detail) each."""
    # insert_many, not bulk_create: a worker writes a line for nearly every step, and
    # building a model instance per line costs more than the INSERT itself.
    insert_many(
        LockAccessLog,
        LOG_COLUMNS,
        [
            (
                access.organization_id,
                access.pk,
                at,
                kind,
                source,
                provider_id or access.provider_id,
                event_id[:100],
                detail[:300],
            )
            for kind, provider_id, detail in entries
        ],
    )


LOG_COLUMNS = (
    "organization_id",
    "access_id",
    "at",
    "kind",
    "source",
    "provider_id",
    "provider_event_id",
    "detail",
)


def move(
    access: LockAccess,
    to: str,
    *,
    evidence: Evidence = (),
    source: str = "",
    at=None,
    event_id: str = "",
) -> None:
    """Move a row the caller holds (or creates) to `to`; the caller saves it.

    The evidence, if any, is written on the row's log at once (it needs the row's id).
    """
    check(access.state, to)
    access.state = to
    access_log(access, evidence, source=source, at=at or timezone.now(), event_id=event_id)


def claim(access: LockAccess, *, to: str, token: str, until, now) -> bool:
    """The worker takes a due row it has read (with its device and holder) and begins its
    step: the claim (`token` until `until`) and `to` in one compare-and-set, which only
    the row exactly as read passes: still due, unclaimed, in the state read and not
    written since (`updated_at`: every re-plan saves it). A row changed meanwhile is
    left alone (False), as if another worker had it: the next look reads it afresh.
    `access` keeps the state read, which the worker restores when it gives the row back
    untouched."""
    check(access.state, to)
    # LockAccess.unclaimed(now), as one compare-and-set of a shape built once (a worker
    # claims a row for every step it takes).
    return update_row(
        LockAccess,
        access.pk,
        values={"claimed_until": until, "claim_token": token, "state": to},
        equal={"state": access.state, "updated_at": access.updated_at},
        reached={"due_at": now},
        before={"claimed_until": now},
    )


def as_claimed(access: LockAccess, state: str) -> None:
    """The in-memory row takes the state its claim wrote (`claim` leaves it the state
    read), for writing the step's outcome on the row as claimed."""
    access.state = state


def move_claimed(pk: int, *, token: str, current: str, to: str) -> bool:
    """The worker's step begins: `to` on the row it claimed, by compare-and-set on its
    claim token (a lease that ran out meanwhile writes nothing). `current` is the state
    the worker read."""
    check(current, to)
    return bool(LockAccess.objects.filter(pk=pk, claim_token=token).update(state=to))


def restore(access: LockAccess, previous: str) -> None:
    """Give a claimed row back with the state it had before the worker took it (the
    worker's own move undone: a step put off, not a step done). The caller saves it."""
    check(previous, access.state)
    access.state = previous


def write_unclaimed(access: LockAccess, **values) -> bool:
    """Write provider-side facts (and a `state`, checked against the table), never on a
    row a worker holds right now: False then. The in-memory row takes the values either
    way, as the caller goes on reading it."""
    if "state" in values:
        check(access.state, values["state"])
    if "provider_code" in values:
        access.provider_code = values.pop("provider_code")
        values["provider_code_ciphertext"] = access.provider_code_ciphertext
        values["provider_code_digest"] = access.provider_code_digest
    for name, value in values.items():
        setattr(access, name, value)
    return bool(
        LockAccess.objects.filter(pk=access.pk)
        .filter(LockAccess.unclaimed(timezone.now()))
        .update(**values, updated_at=timezone.now())
    )


def send_again(access: LockAccess, *, now) -> bool:
    """Make a wanted lock access due now so that the worker sends the code again (the
    pre-arrival check's retry). Without the provider's start the worker sends an
    update, and Seam tries the lock again with the same code (as after the lock refused
    it). A row a worker holds right now is left to it: False then."""
    values: dict = {"due_at": now, "updated_at": now}
    if access.provider_id:
        values["provider_starts_at"] = None
    return bool(
        LockAccess.objects.filter(pk=access.pk, wanted=True)
        .exclude(state__in=LockAccess.FINAL_STATES)
        .filter(LockAccess.unclaimed(now))
        .update(**values)
    )


def retry_now(access_id: int, *, now) -> None:
    """Staff ask for another try at once: due now, its attempts counted afresh (a code
    already gone from its lock stays gone)."""
    LockAccess.objects.filter(pk=access_id).exclude(state__in=LockAccess.FINAL_STATES).update(
        due_at=now, attempts=0
    )


def failed_retry_now(*, now) -> int:
    """Every failing code waiting for its backoff is due now (`process_due --now`)."""
    return LockAccess.objects.filter(state=State.FAILED, due_at__gt=now).update(due_at=now)


def backup_record(access: LockAccess, *, provider_id: str, code: str, window, now) -> None:
    """Keep a backup code pulled from the lock's pool on this lock access (this stay's
    alone, valid for `window`), with its evidence."""
    access.backup_provider_id = provider_id
    access.backup_code = code
    access.backup_starts_at, access.backup_ends_at = window
    access.backup_pulled_at = now
    LockAccess.objects.filter(pk=access.pk).update(
        backup_provider_id=provider_id,
        backup_code_ciphertext=access.backup_code_ciphertext,
        backup_code_digest=access.backup_code_digest,
        backup_starts_at=access.backup_starts_at,
        backup_ends_at=access.backup_ends_at,
        backup_pulled_at=now,
        updated_at=now,
    )
    access_log(
        access,
        [(LockAccessLog.Kind.BACKUP_PULLED, provider_id, "Ready to share with the guest.")],
        source=LockAccessLog.Source.WORKER,
        at=now,
    )


def backup_shared(access: LockAccess, *, by: str, now) -> None:
    """Staff shared the backup code with the guest: recorded on the lock's history."""
    LockAccess.objects.filter(pk=access.pk).update(backup_shared_at=now, updated_at=now)
    access.backup_shared_at = now
    access_log(
        access,
        [
            (
                LockAccessLog.Kind.BACKUP_SHARED,
                access.backup_provider_id,
                f"Shared with the guest by {by}.",
            )
        ],
        source=LockAccessLog.Source.WORKER,
        at=now,
    )


def mermaid() -> str:
    """TRANSITIONS as a Mermaid state diagram (docs/lock-access-states.md holds it)."""
    lines = ["stateDiagram-v2", f"    [*] --> {State.PLANNED.value}"]
    for current in STORED_STATES:
        for to in STORED_STATES:
            if to in TRANSITIONS[current]:  # in a fixed order: the docs compare the text
                lines.append(f"    {current} --> {to}")
    for final in STORED_STATES:
        if final in LockAccess.FINAL_STATES:
            lines.append(f"    {final} --> [*]")
    return "\n".join(lines) + "\n"


def plans_save(*, created: list[LockAccess], changed: list[LockAccess], fields: list[str]) -> None:
    """Write many re-planned rows at once (reservations.bulk_planning): `created` new,
    `changed` rows the caller holds locked, whose states were moved with `move` (a plan's
    moves write no evidence). `fields`: what planning writes (planning.PLAN_FIELDS)."""
    now = timezone.now()
    LockAccess.objects.bulk_create(created, batch_size=500)
    names = list(fields)
    names += [
        digest
        for ciphertext, digest in LockAccess.code_digest_fields.items()
        if ciphertext in names and digest not in names
    ]
    for access in changed:
        access.updated_at = now
    update_many(LockAccess, changed, names)
