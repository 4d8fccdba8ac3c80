"""The keyed hash of every door code beside its ciphertext (the stay's code, each lock's
planned, provider-picked and backup code, each override's code), for the exact-code search;
existing rows are filled in batches."""

from django.db import migrations, models

from core.crypto import fill_code_digests

DIGESTS = {
    "ReservationCode": {"code_ciphertext": "code_digest"},
    "LockAccess": {
        "code_ciphertext": "code_digest",
        "provider_code_ciphertext": "provider_code_digest",
        "backup_code_ciphertext": "backup_code_digest",
    },
    "AccessOverride": {"code_ciphertext": "code_digest"},
}


def fill(apps, schema_editor):
    for model, pairs in DIGESTS.items():
        fill_code_digests(apps.get_model("reservations", model), pairs)


def digest():
    return models.CharField(blank=True, db_index=True, default="", editable=False, max_length=64)


class Migration(migrations.Migration):
    dependencies = [
        ("reservations", "0016_reservation_guest_language"),
    ]

    operations = [
        migrations.AddField(model_name="reservationcode", name="code_digest", field=digest()),
        migrations.AddField(model_name="lockaccess", name="code_digest", field=digest()),
        migrations.AddField(model_name="lockaccess", name="provider_code_digest", field=digest()),
        migrations.AddField(model_name="lockaccess", name="backup_code_digest", field=digest()),
        migrations.AddField(model_name="accessoverride", name="code_digest", field=digest()),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
    ]
