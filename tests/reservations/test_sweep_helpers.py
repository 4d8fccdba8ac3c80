"""A backlog of due steps calls in other workers; a helper leaves when nothing is due."""

import datetime

import pytest
from django.utils import timezone

from locks import pacing
from reservations import tasks
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
