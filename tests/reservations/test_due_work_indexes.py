"""The periodic due-work queries and the reservation list's filters reach their rows
through an index, so that their cost follows what is due (or shown), not the size of the
tables: a query that stops using its index (a new OR, a function around the column)
reads every lock access ever planned and fails here.

Plans come from the database itself (SQLite's EXPLAIN QUERY PLAN; on PostgreSQL,
EXPLAIN with sequential scans switched off, so that a usable index shows on small test
tables too). `bench/scale.py` measures the same queries at 200,000 reservations.
"""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from reservations.models import LockAccess, Reservation
from reservations.readback import locks_due_for_reconcile
from reservations.services import process_due

pytestmark = pytest.mark.django_db


def plan(sql: str) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            return "\n".join(str(row[-1]) for row in cursor.fetchall())
        cursor.execute("SET LOCAL enable_seqscan = off")
        try:
            cursor.execute(f"EXPLAIN {sql}")
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("SET LOCAL enable_seqscan = on")


def index_on(model, *columns: str) -> str:
    """The name of the index whose columns are `columns`, as the database has it."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    names = [
        name
        for name, info in constraints.items()
        if info["index"] and not info["primary_key"] and info["columns"] == list(columns)
    ]
    assert names, f"no index on {model.__name__}({', '.join(columns)})"
    return names[0]


def captured_sql(run, *, containing: tuple[str, ...]) -> str:
    with CaptureQueriesContext(connection) as captured:
        run()
    for query in captured.captured_queries:
        if all(part in query["sql"] for part in containing):
            return query["sql"]
    raise AssertionError(f"no query with {containing}")


def test_due_steps_are_found_through_the_due_at_index(org_a):
    sql = captured_sql(process_due, containing=("due_at", "ORDER BY"))
    assert index_on(LockAccess, "due_at") in plan(sql)


def test_locks_near_a_stay_are_found_through_the_windows_index(org_a):
    sql = captured_sql(locks_due_for_reconcile, containing=("program_at", "ends_at"))
    assert index_on(LockAccess, "ends_at", "program_at") in plan(sql)


def test_failing_stays_are_found_through_the_state_index(manager_client, org_a):
    url = reverse("admin:reservations_reservation_changelist") + "?codes=failing"
    sql = captured_sql(lambda: manager_client.get(url), containing=("COUNT(", "'failed'"))
    assert index_on(LockAccess, "state", "due_at") in plan(sql)


def test_late_codes_are_found_through_the_state_and_due_index(manager_client, org_a):
    url = reverse("admin:reservations_reservation_changelist") + "?codes=late"
    sql = captured_sql(lambda: manager_client.get(url), containing=("COUNT(", "'planned'"))
    assert index_on(LockAccess, "state", "due_at") in plan(sql)


def test_an_organizations_sources_are_read_from_an_index(manager_client, org_a):
    for source in ("api", "airbnb", ""):
        now = timezone.now()
        Reservation.objects.create(
            listing=org_a.listing,
            guest_name="G",
            check_in=now,
            check_out=now + datetime.timedelta(days=1),
            source=source,
        )
    url = reverse("admin:reservations_reservation_changelist")
    sql = captured_sql(
        lambda: manager_client.get(url),
        containing=('DISTINCT "reservations_reservation"."source"',),
    )
    assert index_on(Reservation, "organization_id", "source") in plan(sql)


def test_locks_near_a_stay_are_read_from_lock_accesses_alone(org_a):
    """The model's default ordering would join each row to its stay and its lock."""
    sql = captured_sql(locks_due_for_reconcile, containing=("program_at", "ends_at"))
    assert "JOIN" not in sql and "ORDER BY" not in sql
