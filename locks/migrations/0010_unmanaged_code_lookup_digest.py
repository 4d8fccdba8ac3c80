"""The keyed hash of each unmanaged code beside its ciphertext, for the exact-code search;
existing rows are filled in batches."""

from django.db import migrations, models

from core.crypto import fill_code_digests


def fill(apps, schema_editor):
    fill_code_digests(apps.get_model("locks", "UnmanagedCode"), {"code_ciphertext": "code_digest"})


class Migration(migrations.Migration):
    dependencies = [
        ("locks", "0009_device_lease_and_recent_writes"),
    ]

    operations = [
        migrations.AddField(
            model_name="unmanagedcode",
            name="code_digest",
            field=models.CharField(
                blank=True, db_index=True, default="", editable=False, max_length=64
            ),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
    ]
