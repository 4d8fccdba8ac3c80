"""The stay's folded search text (guest name, email, phone digits, external id), filled
in batches, and the index that keeps a substring search on it fast on each database:
PostgreSQL a trigram GIN index (pg_trgm); SQLite a covering b-tree on (organization,
search_text), scanned instead of the table."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

from core.search_text import guest_search_text

BATCH = 2000
INDEX = "reservation_search_text"


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
    table = "reservations_reservation"
    if vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX {INDEX} ON {table} USING gin (search_text gin_trgm_ops)"
        )
    else:
        schema_editor.execute(f"CREATE INDEX {INDEX} ON {table} (organization_id, search_text)")


def drop_index(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("reservations", "0016_code_lookup_digests"),
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
