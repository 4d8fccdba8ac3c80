"""Once created the cluster's periodic schedule here, from settings read at migrate time.

Schedules now follow settings whenever a cluster starts (core.schedules, and `manage.py
ensure_schedules`), so that a changed interval is not frozen into the database. This
migration stays, empty, so that the migration history is unchanged.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("locks", "0004_unmanaged_codes_lock_events_alerts_webhook"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)]
