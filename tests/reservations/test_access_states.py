"""A lock access's states: one table of allowed moves (reservations.access_states), the
only writer of them, and the diagram in docs/lock-access-states.md drawn from it."""

import re
from pathlib import Path

import pytest
from django.utils import timezone

from reservations import access_states
from reservations.access_states import TRANSITIONS, IllegalTransition
from reservations.models import LockAccess, LockAccessLog
from tests.factories import DeviceFactory, ReservationFactory

State = LockAccess.State
DOC = Path(__file__).resolve().parents[2] / "docs" / "lock-access-states.md"
DIAGRAM = re.compile(
    r"<!-- transitions:begin -->\n```mermaid\n(.*?)```\n<!-- transitions:end -->", re.S
)


def test_the_table_names_every_stored_state_and_no_derived_one():
    stored = {s for s in State if s != State.ACTIVE}
    assert set(TRANSITIONS) == stored
    assert all(targets <= stored for targets in TRANSITIONS.values())


def test_the_table_renders_as_a_state_diagram():
    text = access_states.mermaid()
    assert text.startswith("stateDiagram-v2\n    [*] --> planned\n")
    moves = re.findall(r"^    (\w+) --> (\w+)$", text, re.M)
    assert sorted(moves) == sorted(
        (current, to) for current, targets in TRANSITIONS.items() for to in targets
    )
    assert "    removed --> [*]" in text and "    revoked --> [*]" in text
    assert "active" not in text  # derived from the instants, never stored


def test_the_docs_diagram_is_the_table():
    found = DIAGRAM.search(DOC.read_text())
    assert found, "docs/lock-access-states.md lost its transitions markers"
    assert found.group(1) == access_states.mermaid(), (
        "The diagram in docs/lock-access-states.md differs from TRANSITIONS: replace it "
        "with reservations.access_states.mermaid()'s output."
    )


@pytest.fixture
def access(db):
    reservation = ReservationFactory()
    now = timezone.now()
    return LockAccess.objects.create(
        reservation=reservation,
        organization_id=reservation.organization_id,
        device=DeviceFactory(connection__organization=reservation.organization),
        starts_at=now,
        ends_at=now + timezone.timedelta(days=2),
        program_at=now,
        state=State.CONFIRMED,
    )


def test_a_move_not_in_the_table_raises_and_writes_nothing(access):
    with pytest.raises(IllegalTransition):
        access_states.move(access, State.REMOVED)  # a code on the lock leaves by removing
    assert access.state == State.CONFIRMED
    with pytest.raises(IllegalTransition):
        access_states.write_unclaimed(access, state=State.REVOKED, attempts=3)
    with pytest.raises(IllegalTransition):
        access_states.move_claimed(access.pk, token="", current=State.CONFIRMED, to=State.REVOKED)
    access.refresh_from_db()
    assert (access.state, access.attempts) == (State.CONFIRMED, 0)


def test_a_move_records_its_evidence_on_the_lock_access_log(access):
    now = timezone.now()
    access_states.move(
        access,
        State.FAILED,
        evidence=[(LockAccessLog.Kind.FAILED, "code-1", "Reported by the lock.")],
        source=LockAccessLog.Source.EVENT,
        at=now,
        event_id="event-1",
    )
    access.save()
    access.refresh_from_db()
    assert access.state == State.FAILED
    (log,) = access.logs.all()
    assert (log.kind, log.provider_id, log.provider_event_id, log.at) == (
        LockAccessLog.Kind.FAILED,
        "code-1",
        "event-1",
        now,
    )


def test_a_compare_and_set_never_writes_a_row_a_worker_holds(access):
    now = timezone.now()
    LockAccess.objects.filter(pk=access.pk).update(
        claimed_until=now + timezone.timedelta(minutes=5), claim_token="worker"
    )
    assert not access_states.write_unclaimed(access, state=State.FAILED)
    assert not access_states.move_claimed(
        access.pk, token="another", current=State.CONFIRMED, to=State.REMOVING
    )
    assert access_states.move_claimed(
        access.pk, token="worker", current=State.CONFIRMED, to=State.REMOVING
    )
    access.refresh_from_db()
    assert access.state == State.REMOVING
    access_states.restore(access, State.CONFIRMED)  # the step was put off
    assert access.state == State.CONFIRMED
