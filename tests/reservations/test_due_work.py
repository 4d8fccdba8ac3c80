"""Which due step goes first, and who works it: a backlog calls in other workers."""

import datetime

import pytest
from django.utils import timezone

from locks import pacing
from reservations import services, tasks
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
