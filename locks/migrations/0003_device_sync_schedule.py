from django.conf import settings
from django.db import migrations

SCHEDULE_NAME = "Import devices from every lock provider connection"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": "locks.tasks.sync_all_connections",
            "schedule_type": "I",  # every `minutes`
            "minutes": getattr(settings, "DEVICE_SYNC_INTERVAL_MINUTES", 60),
            "repeats": -1,
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("locks", "0002_connection_secrets_accounts_and_sync"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
