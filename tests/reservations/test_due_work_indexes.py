"""The periodic due-work queries and the reservation list's filters reach their rows
through an index, so that their cost follows what is due (or shown), not the size of the
tables: a query that stops using its index (a new OR, a function around the column)
reads every lock access ever planned and fails here.

Plans come from the database itself (SQLite's EXPLAIN QUERY PLAN; on PostgreSQL,
EXPLAIN with sequential scans switched off, so that a usable index shows on small test
tables too, and, for the plans that follow statistics, on tables given a past and
analysed: the `history` fixture). `bench/scale.py` measures the same queries at 200,000
reservations.
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


def indexes_led_by(model, column: str) -> list[str]:
    """The names of the indexes whose first column is `column`."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    return [
        name
        for name, info in constraints.items()
        if info["index"] and not info["primary_key"] and info["columns"][:1] == [column]
    ]


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


@pytest.fixture
def history(org_a):
    """An organization's past: 3,000 ended stays whose codes left their lock. PostgreSQL
    plans by its statistics, and a plan is only worth checking on a table shaped like a
    real one (most rows in final states), analysed now: statistics left by earlier tests
    would make the plan depend on the order the suite ran in. SQLite plans by the query
    alone and is left as it is."""
    if connection.vendor != "postgresql":
        return
    start = timezone.now() - datetime.timedelta(days=400)
    stays = Reservation.objects.bulk_create(
        Reservation(
            organization=org_a.organization,
            listing=org_a.listing,
            guest_name=f"Past guest {n}",
            check_in=start + datetime.timedelta(days=n % 390),
            check_out=start + datetime.timedelta(days=n % 390 + 2),
            status=Reservation.Status.CHECKED_OUT,
        )
        for n in range(3000)
    )
    LockAccess.objects.bulk_create(
        LockAccess(
            organization=org_a.organization,
            reservation=stay,
            assignment=org_a.assignment,
            device=org_a.assignment.device,
            wanted=False,
            starts_at=stay.check_in,
            ends_at=stay.check_out,
            program_at=stay.check_in,
            state=LockAccess.State.REMOVED,
            removed_at=stay.check_out,
        )
        for stay in stays
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE reservations_lockaccess, reservations_reservation")


def test_failing_stays_are_found_through_the_state_index(manager_client, org_a, history):
    url = reverse("admin:reservations_reservation_changelist") + "?codes=failing"
    sql = captured_sql(lambda: manager_client.get(url), containing=("COUNT(", "'failed'"))
    assert index_on(LockAccess, "state", "due_at") in plan(sql)


def test_late_codes_are_found_through_an_index_of_current_codes(manager_client, org_a, history):
    """Each index reaches only current codes: those waiting to be sent (state, due_at, or
    the waiting codes by the instant they were due) or those whose window is not over yet
    (ends_at); which one is the database's choice."""
    url = reverse("admin:reservations_reservation_changelist") + "?codes=late"
    sql = captured_sql(lambda: manager_client.get(url), containing=("COUNT(", "'planned'"))
    found = plan(sql)
    current = [
        index_on(LockAccess, "state", "due_at"),
        "lock_access_waiting_due",
        *indexes_led_by(LockAccess, "ends_at"),
    ]
    assert any(name in found for name in current), found


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
    found = plan(sql)
    # Read through an index of the organization's rows: (organization, source) covers it,
    # and on a table this small the planner may as well take another index led by the
    # organization (check-in, or the front desk's search text): never the whole table.
    assert index_on(Reservation, "organization_id", "source") in indexes_led_by(
        Reservation, "organization_id"
    )
    assert any(name in found for name in indexes_led_by(Reservation, "organization_id")), found


def test_locks_near_a_stay_are_read_from_lock_accesses_alone(org_a):
    """The model's default ordering would join each row to its stay and its lock."""
    sql = captured_sql(locks_due_for_reconcile, containing=("program_at", "ends_at"))
    assert "JOIN" not in sql and "ORDER BY" not in sql


def through(found: str, index: str) -> bool:
    """On SQLite, the plan names `index`; PostgreSQL picks among the usable indexes by
    its statistics of the small test tables: there, no table is read whole."""
    if connection.vendor == "sqlite":
        return index in found
    return "Seq Scan" not in found


def test_the_dashboards_reads_of_the_stays_not_over_come_from_indexes(
    manager_client, org_a, history
):
    """The stays with a code but no door test each stay not over: read from the
    organization's check-out index alone, each tested against an index of a stay's doors.
    The double bookings read each stay not over once, from the same index, by listing and
    check-in (not a probe per stay); only the listings with an overlap are then tested
    against the (listing, check-out) index. Never a walk through every stay."""
    now = timezone.now()
    for guest in ("First booking", "Second booking"):  # a double booking: both steps run
        Reservation.objects.create(
            listing=org_a.listing,
            guest_name=guest,
            check_in=now + datetime.timedelta(days=300),
            check_out=now + datetime.timedelta(days=302),
            status=Reservation.Status.CONFIRMED,
        )
    dashboard = lambda: manager_client.get(reverse("dashboard"))  # noqa: E731
    no_door = plan(captured_sql(dashboard, containing=("NOT EXISTS", "reservationcode")))
    assert through(no_door, "reservation_org_check_out"), no_door
    assert through(no_door, "lock_access_stay_door"), no_door
    by_listing = plan(captured_sql(dashboard, containing=("LEAD(",)))
    assert through(by_listing, "reservation_org_check_out"), by_listing
    overlaps = plan(
        captured_sql(dashboard, containing=('"listing_id" = ("reservations_reservation"',))
    )
    assert through(overlaps, "reservation_listing_check_out"), overlaps
    page = dashboard().content.decode()
    assert "Double bookings (1)" in page and "Second booking" in page


def test_the_dashboards_guests_not_verified_are_read_from_the_held_stays(
    manager_client, org_a, history
):
    """Only the stays held for their guest's verification, not every stay that began
    before the alert's instant (most of an organization's past)."""
    found = plan(
        captured_sql(
            lambda: manager_client.get(reverse("dashboard")),
            containing=('."verification_required" AND', "ORDER BY"),
        )
    )
    assert through(found, "reservation_held_check_in"), found
    if connection.vendor == "sqlite":
        assert "reservation_organiz" not in found, found


def test_the_dashboards_late_codes_are_one_range_of_the_waiting_codes_index(
    manager_client, org_a, history
):
    found = plan(
        captured_sql(
            lambda: manager_client.get(reverse("dashboard")), containing=("COALESCE", "ORDER BY")
        )
    )
    assert through(found, "lock_access_waiting_due"), found
