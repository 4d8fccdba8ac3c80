"""SQLite's full-text index of the search text survives a migration that rebuilds the
stays' table (SQLite copies a table to change a column, and the triggers that keep the
index in step go with the old one)."""

import pytest
from django.db import connection

from reservations.search_index import TRIGGERS, sqlite_search_repair

from .conftest import book

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "sqlite", reason="PostgreSQL's trigram index needs no triggers"
    ),
]


def found(staff_client, stay, term):
    html = staff_client.get("/admin/desk/search/", {"q": term}).content.decode()
    return f'id="stay-{stay.pk}"' in html[html.find('id="stay-matches"') :]


def test_a_migrated_database_finds_a_new_stay_by_name(org_a, staff_client):
    """The test database was made by every migration, some rebuilding the table after
    the index was made: the triggers are there, and a new stay is found."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        assert set(TRIGGERS) <= {name for (name,) in cursor.fetchall()}
    assert found(staff_client, book(org_a, guest_name="Ingrid Bergström"), "bergstr")


def test_lost_triggers_are_made_again_and_the_index_rebuilt(org_a, staff_client):
    earlier = book(org_a, guest_name="Ana Lopes")
    with connection.cursor() as cursor:
        for name in TRIGGERS:
            cursor.execute(f"DROP TRIGGER {name}")
    lost = book(org_a, guest_name="Zoltan Kovacs")
    assert not found(staff_client, lost, "kovacs")  # what a rebuilt table did to the search

    assert sqlite_search_repair(connection) is True
    assert found(staff_client, lost, "kovacs") and found(staff_client, earlier, "lopes")
    assert found(staff_client, book(org_a, guest_name="Yara Nunes"), "nunes")
    assert sqlite_search_repair(connection) is False  # whole: nothing to do
