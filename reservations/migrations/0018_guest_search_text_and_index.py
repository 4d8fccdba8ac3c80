"""The stay's folded search text (guest name, email, phone digits, external id), filled
in batches, and the index that keeps a substring search on it fast on each database:
PostgreSQL a trigram GIN index (pg_trgm); SQLite an FTS5 table with the trigram tokenizer
(SQLite 3.34+) over the same column, kept in step by triggers, and a covering b-tree on
(organization, search_text) for terms shorter than a trigram."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

from core.search_text import guest_search_text

BATCH = 2000
INDEX = "reservation_search_text"
# SQLite's full-text table of the search text (rowid = the reservation's id).
FTS = "reservation_search"
TABLE = "reservations_reservation"
SQLITE_FTS = [
    f"CREATE VIRTUAL TABLE {FTS} USING fts5(search_text, content='{TABLE}', "
    "content_rowid='id', tokenize='trigram')",
    f"CREATE TRIGGER {FTS}_insert AFTER INSERT ON {TABLE} BEGIN "
    f"INSERT INTO {FTS}(rowid, search_text) VALUES (new.id, new.search_text); END",
    f"CREATE TRIGGER {FTS}_delete AFTER DELETE ON {TABLE} BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, search_text) VALUES ('delete', old.id, old.search_text); "
    "END",
    f"CREATE TRIGGER {FTS}_update AFTER UPDATE OF search_text ON {TABLE} BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, search_text) VALUES ('delete', old.id, old.search_text); "
    f"INSERT INTO {FTS}(rowid, search_text) VALUES (new.id, new.search_text); END",
    f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')",
]


def fill(apps, schema_editor):
    Reservation = apps.get_model("reservations", "Reservation")
    fields = ["guest_name", "guest_email", "guest_phone", "external_id"]
    last = 0
    while True:
        rows = list(Reservation.objects.filter(pk__gt=last).order_by("pk").only(*fields)[:BATCH])
        if not rows:
            return
        for row in rows:
            row.search_text = guest_search_text(
                name=row.guest_name,
                email=row.guest_email,
                phone=row.guest_phone,
                external_id=row.external_id,
            )
        Reservation.objects.bulk_update(rows, ["search_text"])
        last = rows[-1].pk


def create_index(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX {INDEX} ON {TABLE} USING gin (search_text gin_trgm_ops)"
        )
    elif vendor == "sqlite":
        schema_editor.execute(f"CREATE INDEX {INDEX} ON {TABLE} (organization_id, search_text)")
        for statement in SQLITE_FTS:
            schema_editor.execute(statement)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for trigger in ("insert", "delete", "update"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {FTS}_{trigger}")
        schema_editor.execute(f"DROP TABLE IF EXISTS {FTS}")
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("reservations", "0017_code_lookup_digests"),
    ]

    operations = [
        # A no-op on any database but PostgreSQL.
        TrigramExtension(),
        migrations.AddField(
            model_name="reservation",
            name="search_text",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
        migrations.RunPython(create_index, drop_index),
    ]
