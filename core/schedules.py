"""The periodic work of the django-q2 cluster, made sure of from settings.

`settings.KEYSTAY_SCHEDULES` lists every periodic task by a stable name. Each cluster
process brings the stored `Schedule` rows in line with it when it starts (and
`manage.py ensure_schedules` does the same on demand): a row is matched by its name and
updated in place, so a changed interval or a moved task function takes effect on the
next restart, and a row is never created twice, even when several clusters start at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django_q.models import Schedule

logger = logging.getLogger(__name__)

# Any number that other code will not pick for its own advisory lock.
_ADVISORY_LOCK_KEY = 0x4B53_5343  # "KSSC"


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    func: str
    minutes: int


def configured() -> list[ScheduleSpec]:
    return [ScheduleSpec(**spec) for spec in settings.KEYSTAY_SCHEDULES]


def _serialize_writers() -> None:
    """Two clusters starting at once must not both create a missing row.

    PostgreSQL: a transaction-level advisory lock. SQLite takes its write lock when the
    transaction begins (IMMEDIATE mode), which serializes the writers already.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK_KEY])


def schedules_ensure(specs: list[ScheduleSpec] | None = None) -> dict[str, str]:
    """Create or update each configured schedule by name; returns name → what was done."""
    specs = configured() if specs is None else specs
    done: dict[str, str] = {}
    with transaction.atomic():
        _serialize_writers()
        for spec in specs:
            rows = list(Schedule.objects.filter(name=spec.name).order_by("pk"))
            if len(rows) > 1:  # left by an older release: keep the first
                Schedule.objects.filter(pk__in=[row.pk for row in rows[1:]]).delete()
            wanted = {
                "func": spec.func,
                "schedule_type": Schedule.MINUTES,
                "minutes": spec.minutes,
                "repeats": -1,
            }
            if not rows:
                Schedule.objects.create(name=spec.name, **wanted)
                done[spec.name] = "created"
                continue
            row = rows[0]
            changed = [field for field, value in wanted.items() if getattr(row, field) != value]
            if changed:
                for field in changed:
                    setattr(row, field, wanted[field])
                row.save(update_fields=changed)
                done[spec.name] = "updated " + ", ".join(changed)
            else:
                done[spec.name] = "unchanged"
    logger.info("Schedules: %s", done)
    return done


def on_cluster_start(sender, proc_name=None, **kwargs) -> None:
    """django-q2's `post_spawn` (a worker process started): the schedules follow settings."""
    try:
        schedules_ensure()
    except Exception:  # a worker must start even when this fails; the next start retries
        logger.exception("Schedules not brought in line with settings")
