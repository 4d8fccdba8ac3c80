from django.conf import settings
from django.db import migrations

SCHEDULES = {
    "Import unmanaged codes from every lock provider connection": (
        "locks.tasks.import_all_unmanaged_codes",
        "UNMANAGED_CODES_INTERVAL_MINUTES",
        15,
    ),
    "Reconcile lock events from every lock provider connection": (
        "locks.tasks.reconcile_all_events",
        "EVENTS_RECONCILE_INTERVAL_MINUTES",
        5,
    ),
}


def create_schedules(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, (func, setting, default) in SCHEDULES.items():
        Schedule.objects.update_or_create(
            name=name,
            defaults={
                "func": func,
                "schedule_type": "I",  # every `minutes`
                "minutes": getattr(settings, setting, default),
                "repeats": -1,
            },
        )


def remove_schedules(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=list(SCHEDULES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("locks", "0004_unmanaged_codes_lock_events_alerts_webhook"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
