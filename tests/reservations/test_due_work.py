"""Which due step goes first, and who works it: a backlog calls in other workers."""

import datetime
import time

import pytest
import time_machine
from django.utils import timezone

from locks import pacing
from reservations import provisioning, services, tasks
from reservations.models import LockAccess
from tests.factories import DeviceFactory, ReservationFactory

pytestmark = pytest.mark.django_db


def due_steps_on(locks: int) -> list[LockAccess]:
    stay = ReservationFactory()
    now = timezone.now()
    return [
        LockAccess.objects.create(
            organization_id=stay.organization_id,
            reservation=stay,
            device=DeviceFactory(connection__organization=stay.organization),
            starts_at=stay.check_in,
            ends_at=stay.check_out,
            program_at=now - datetime.timedelta(minutes=1),
            due_at=now - datetime.timedelta(minutes=1),
        )
        for _ in range(locks)
    ]


@pytest.fixture
def enqueued(monkeypatch):
    calls = []
    monkeypatch.setattr(
        "django_q.tasks.async_task", lambda func, *args, **kwargs: calls.append(func)
    )
    return calls


def test_a_backlog_calls_in_as_many_helpers_as_it_needs(settings, enqueued):
    settings.KEYSTAY_PROVISIONING_CONCURRENCY = 2  # a worker takes 8 locks in four rounds
    due_steps_on(20)

    assert tasks._call_in_helpers(8) == 2  # 20 locks: this worker and two more
    assert enqueued == ["reservations.tasks.sweep_helper"] * 2


def test_a_small_backlog_or_locks_other_workers_hold_call_in_nobody(settings, enqueued):
    settings.KEYSTAY_PROVISIONING_CONCURRENCY = 2
    steps = due_steps_on(12)
    for step in steps[:6]:
        pacing.lease_take(step.device_id)  # being worked on elsewhere

    assert tasks._call_in_helpers(8) == 0
    assert enqueued == []


def test_the_helpers_called_in_are_capped(settings, enqueued):
    settings.KEYSTAY_PROVISIONING_CONCURRENCY = 1
    due_steps_on(30)

    assert tasks._call_in_helpers(3) == 3


def test_a_helper_leaves_as_soon_as_nothing_is_due():
    assert tasks.sweep_helper() == 0


def test_revocations_then_nearest_deadlines_go_first_whatever_fell_due_earlier():
    stay = ReservationFactory()
    now = timezone.now()

    def step(*, due_ago: int, starts_in: datetime.timedelta, **fields) -> int:
        device = DeviceFactory(connection__organization=stay.organization)
        due = now - datetime.timedelta(minutes=due_ago)
        LockAccess.objects.create(
            organization_id=stay.organization_id,
            reservation=stay,
            device=device,
            starts_at=now + starts_in,
            ends_at=now + starts_in + datetime.timedelta(days=2),
            program_at=due,
            due_at=due,
            **fields,
        )
        return device.pk

    tomorrow = step(due_ago=30, starts_in=datetime.timedelta(days=1))  # a backlog
    check_out = step(due_ago=1, starts_in=-datetime.timedelta(days=3))  # window over
    late = step(due_ago=0, starts_in=-datetime.timedelta(hours=1))  # the stay began
    soon = step(due_ago=20, starts_in=datetime.timedelta(hours=2))
    cancelled = step(due_ago=0, starts_in=datetime.timedelta(days=5), wanted=False)

    assert services.due_lock_ids(now=timezone.now()) == [
        cancelled,
        check_out,
        late,
        soon,
        tomorrow,
    ]


def test_a_waiting_worker_wakes_for_the_nearest_due_instant():
    now = timezone.now().replace(microsecond=0)
    later = [LockAccess.objects.get(pk=s.pk) for s in due_steps_on(3)]
    for step, seconds in zip(later, (-30, 3, 40), strict=True):  # one due already
        LockAccess.objects.filter(pk=step.pk).update(
            due_at=now + datetime.timedelta(seconds=seconds)
        )

    with time_machine.travel(now, tick=False):
        assert provisioning.seconds_to_next_due(now=now, longest=60) == 3.0
        # Bounded: a safety net looks again after `longest` whatever is planned.
        assert provisioning.seconds_to_next_due(now=now, longest=2) == 2.0
    with time_machine.travel(now + datetime.timedelta(seconds=10), tick=False):
        assert provisioning.seconds_to_next_due(now=timezone.now(), longest=60) == 30.0
    with time_machine.travel(now + datetime.timedelta(seconds=41), tick=False):
        assert provisioning.seconds_to_next_due(now=timezone.now(), longest=60) == 60


def test_the_sweep_sleeps_until_the_next_step_then_hands_over_to_the_next_sweep():
    now = timezone.now().replace(microsecond=0)
    (step,) = due_steps_on(1)
    LockAccess.objects.filter(pk=step.pk).update(due_at=now + datetime.timedelta(seconds=2))
    with time_machine.travel(now, tick=False):
        clock = time.monotonic()
        # Within its time: until the step's due instant, SWEEP_PAUSE at most.
        assert tasks._wait(deadline=clock + 30, handover=clock + 75) == pytest.approx(2.0)
        LockAccess.objects.filter(pk=step.pk).update(due_at=now + datetime.timedelta(seconds=20))
        assert tasks._wait(deadline=clock + 30, handover=clock + 75) == tasks.SWEEP_PAUSE
        # Past its time: it stays for a step due before the next sweep surely runs (looking
        # every SWEEP_PAUSE meanwhile)...
        assert tasks._wait(deadline=clock, handover=clock + 45) == tasks.SWEEP_PAUSE
        LockAccess.objects.filter(pk=step.pk).update(due_at=now + datetime.timedelta(seconds=3))
        assert tasks._wait(deadline=clock, handover=clock + 45) == pytest.approx(3.0)
        LockAccess.objects.filter(pk=step.pk).update(due_at=now + datetime.timedelta(seconds=20))
        # ...and leaves when the next one falls due after that.
        assert tasks._wait(deadline=clock, handover=clock + 15) is None
