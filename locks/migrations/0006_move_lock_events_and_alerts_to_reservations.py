"""LockEvent and DeviceAlert now belong to the reservations app (they point at stays).

State only: the tables stay where they are, with their data; reservations 0004 takes
the models over under the same table names.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("locks", "0005_unmanaged_codes_and_events_schedules"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="lockevent",
                    name="connection",
                ),
                migrations.RemoveField(
                    model_name="lockevent",
                    name="device",
                ),
                migrations.RemoveField(
                    model_name="lockevent",
                    name="organization",
                ),
                migrations.RemoveField(
                    model_name="lockevent",
                    name="reservation",
                ),
                migrations.RemoveField(
                    model_name="lockevent",
                    name="unmanaged_code",
                ),
                migrations.DeleteModel(
                    name="DeviceAlert",
                ),
                migrations.DeleteModel(
                    name="LockEvent",
                ),
            ],
        ),
    ]
