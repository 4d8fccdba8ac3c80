"""The cluster's periodic work follows settings on every start, matched by name."""

import threading

import pytest
from django.conf import settings
from django.db import connection
from django_q.models import Schedule

from core.schedules import schedules_ensure

SWEEP = "Code lifecycle: carry out due work"
DEVICES = "Import devices from every lock provider connection"
EVENTS = "Reconcile lock events from every lock provider connection"


def _by_name():
    return {s.name: (s.func, s.minutes, s.repeats) for s in Schedule.objects.all()}


@pytest.mark.django_db
def test_every_periodic_task_is_scheduled_from_settings():
    schedules_ensure()
    schedules = _by_name()
    assert schedules[SWEEP] == ("reservations.tasks.sweep", 1, -1)
    assert schedules[DEVICES] == ("locks.tasks.sync_all_connections", 60, -1)
    assert schedules[EVENTS] == ("reservations.tasks.reconcile_all_events", 5, -1)
    assert schedules["Import unmanaged codes from every lock provider connection"] == (
        "locks.tasks.import_all_unmanaged_codes",
        15,
        -1,
    )


@pytest.mark.django_db
def test_a_changed_interval_takes_effect_on_the_next_start_in_place(settings):
    schedules_ensure()
    before = Schedule.objects.get(name=DEVICES).pk
    settings.KEYSTAY_SCHEDULES = [
        {**spec, "minutes": 10} if spec["name"] == DEVICES else spec
        for spec in settings.KEYSTAY_SCHEDULES
    ]
    outcome = schedules_ensure()
    assert outcome[DEVICES] == "updated minutes"
    row = Schedule.objects.get(name=DEVICES)
    assert (row.pk, row.minutes) == (before, 10)
    assert Schedule.objects.filter(name=DEVICES).count() == 1


@pytest.mark.django_db
def test_a_row_stored_with_a_task_that_moved_is_pointed_at_its_new_home():
    # The events reconcile lived in locks.tasks before lock events moved to reservations.
    Schedule.objects.create(
        name=EVENTS, func="locks.tasks.reconcile_all_events", schedule_type="I", minutes=5
    )
    Schedule.objects.create(
        name=EVENTS, func="locks.tasks.reconcile_all_events", schedule_type="I", minutes=5
    )
    schedules_ensure()
    assert list(Schedule.objects.filter(name=EVENTS).values_list("func", flat=True)) == [
        "reservations.tasks.reconcile_all_events"
    ]


@pytest.mark.django_db
def test_a_second_start_changes_nothing():
    schedules_ensure()
    assert set(schedules_ensure().values()) == {"unchanged"}
    assert Schedule.objects.count() == len(settings.KEYSTAY_SCHEDULES)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrency runs on PostgreSQL")
def test_clusters_starting_at_once_create_each_schedule_once():
    errors = []
    barrier = threading.Barrier(4)

    def start():
        try:
            barrier.wait()
            schedules_ensure()
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Schedule.objects.count() == len(settings.KEYSTAY_SCHEDULES)


def test_the_schedules_command_reports_each_schedule(db, capsys):
    from django.core.management import call_command

    call_command("ensure_schedules")
    assert f"{SWEEP}: created" in capsys.readouterr().out
