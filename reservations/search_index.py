"""SQLite's full-text index of the stays' search text, kept whole across migrations.

Migration 0018 made an FTS5 table over `reservations_reservation.search_text`, kept in
step by three triggers. SQLite cannot alter a column in place: a later migration that
adds a required field or changes one copies the table into a new one, and the triggers
go with the old table, so new and changed stays would silently drop out of the search.
After every `migrate` on SQLite, the triggers missing are made again and the index is
rebuilt from the table (seconds at 200,000 stays, and only when something was missing).
PostgreSQL's trigram index is an index of the table itself and needs nothing of this.
"""

from __future__ import annotations

FTS = "reservation_search"
TABLE = "reservations_reservation"
TRIGGERS = {
    f"{FTS}_insert": (
        f"CREATE TRIGGER IF NOT EXISTS {FTS}_insert AFTER INSERT ON {TABLE} BEGIN "
        f"INSERT INTO {FTS}(rowid, search_text) VALUES (new.id, new.search_text); END"
    ),
    f"{FTS}_delete": (
        f"CREATE TRIGGER IF NOT EXISTS {FTS}_delete AFTER DELETE ON {TABLE} BEGIN "
        f"INSERT INTO {FTS}({FTS}, rowid, search_text) "
        "VALUES ('delete', old.id, old.search_text); END"
    ),
    f"{FTS}_update": (
        f"CREATE TRIGGER IF NOT EXISTS {FTS}_update AFTER UPDATE OF search_text ON {TABLE} "
        f"BEGIN INSERT INTO {FTS}({FTS}, rowid, search_text) "
        "VALUES ('delete', old.id, old.search_text); "
        f"INSERT INTO {FTS}(rowid, search_text) VALUES (new.id, new.search_text); END"
    ),
}


def sqlite_search_repair(connection) -> bool:
    """Make the search index's missing triggers again and rebuild it; True when it had to.
    Does nothing on another database, or before migration 0018 made the index."""
    if connection.vendor != "sqlite":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT type, name FROM sqlite_master WHERE name = %s OR (type = 'trigger' "
            "AND tbl_name = %s)",
            [FTS, TABLE],
        )
        found = {name for _type, name in cursor.fetchall()}
        if FTS not in found or set(TRIGGERS) <= found:
            return False
        for name, statement in TRIGGERS.items():
            if name not in found:
                cursor.execute(statement)
        cursor.execute(f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')")
    return True
