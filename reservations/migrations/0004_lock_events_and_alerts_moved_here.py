"""LockEvent and DeviceAlert, taken over from the locks app with their tables and data.

State only for the tables (locks 0001-0004 created them); the content types are renamed
so that the admin's history of these rows follows them.
"""

import django.db.models.deletion
from django.db import migrations, models


def _relabel(apps, old: str, new: str) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    for model in ("lockevent", "devicealert"):
        if not content_type.objects.filter(app_label=new, model=model).exists():
            content_type.objects.filter(app_label=old, model=model).update(app_label=new)


def move_content_types(apps, schema_editor) -> None:
    _relabel(apps, "locks", "reservations")


def move_content_types_back(apps, schema_editor) -> None:
    _relabel(apps, "reservations", "locks")


class Migration(migrations.Migration):
    dependencies = [
        ("locks", "0006_move_lock_events_and_alerts_to_reservations"),
        ("properties", "0002_listing_buffers_and_code_style"),
        ("reservations", "0003_lifecycle_sweep_schedule"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="LockEvent",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "provider_event_id",
                            models.CharField(max_length=100, verbose_name="Seam event id"),
                        ),
                        (
                            "event_type",
                            models.CharField(max_length=100, verbose_name="Seam event type"),
                        ),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("unlocked", "Unlocked"),
                                    ("locked", "Locked"),
                                    ("access_denied", "Access denied"),
                                    ("code_set", "Code set on lock"),
                                    ("code_removed", "Code removed from lock"),
                                    ("code_failed", "Code failed"),
                                    ("unmanaged_added", "Code added outside Keystay"),
                                    ("unmanaged_removed", "Code removed outside Keystay"),
                                    ("offline", "Lock offline"),
                                    ("online", "Lock back online"),
                                    ("low_battery", "Battery low"),
                                    ("battery", "Battery level changed"),
                                ],
                                max_length=32,
                            ),
                        ),
                        ("occurred_at", models.DateTimeField()),
                        ("received_at", models.DateTimeField(auto_now_add=True)),
                        ("access_code_id", models.CharField(blank=True, max_length=100)),
                        (
                            "method",
                            models.CharField(
                                blank=True,
                                choices=[
                                    ("", "—"),
                                    ("keypad", "Keypad"),
                                    ("app", "App"),
                                    ("manual", "Manual"),
                                    ("automatic", "Automatic"),
                                    ("card", "Card"),
                                    ("unknown", "Unknown"),
                                ],
                                default="",
                                max_length=16,
                            ),
                        ),
                        ("person_name", models.CharField(blank=True, max_length=200)),
                        ("detail", models.CharField(blank=True, max_length=300)),
                        ("battery_level", models.FloatField(blank=True, null=True)),
                        ("payload", models.JSONField(blank=True, default=dict)),
                        (
                            "connection",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="events",
                                to="locks.lockproviderconnection",
                            ),
                        ),
                        (
                            "device",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="events",
                                to="locks.device",
                            ),
                        ),
                        (
                            "organization",
                            models.ForeignKey(
                                editable=False,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="properties.organization",
                            ),
                        ),
                        (
                            "reservation",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="lock_events",
                                to="reservations.reservation",
                            ),
                        ),
                        (
                            "unmanaged_code",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="events",
                                to="locks.unmanagedcode",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "lock event",
                        "db_table": "locks_lockevent",
                        "ordering": ["-occurred_at", "-pk"],
                    },
                ),
                migrations.CreateModel(
                    name="DeviceAlert",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("offline", "Lock offline"),
                                    ("low_battery", "Battery low"),
                                    ("code_failed", "Code failed on lock"),
                                ],
                                max_length=16,
                            ),
                        ),
                        ("access_code_id", models.CharField(blank=True, max_length=100)),
                        ("message", models.CharField(blank=True, max_length=300)),
                        ("opened_at", models.DateTimeField()),
                        ("resolved_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "device",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="alerts",
                                to="locks.device",
                            ),
                        ),
                        (
                            "organization",
                            models.ForeignKey(
                                editable=False,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="properties.organization",
                            ),
                        ),
                        (
                            "reservation",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="reservations.reservation",
                            ),
                        ),
                        (
                            "event",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="reservations.lockevent",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "device alert",
                        "db_table": "locks_devicealert",
                        "ordering": ["-opened_at"],
                    },
                ),
                migrations.AddIndex(
                    model_name="lockevent",
                    index=models.Index(
                        fields=["organization", "-occurred_at"], name="lock_event_org_time"
                    ),
                ),
                migrations.AddIndex(
                    model_name="lockevent",
                    index=models.Index(
                        fields=["device", "-occurred_at"], name="lock_event_device_time"
                    ),
                ),
                migrations.AddIndex(
                    model_name="lockevent",
                    index=models.Index(
                        fields=["reservation", "-occurred_at"], name="lock_event_stay_time"
                    ),
                ),
                migrations.AddIndex(
                    model_name="lockevent",
                    index=models.Index(
                        fields=["connection", "access_code_id"], name="lock_event_code"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="lockevent",
                    constraint=models.UniqueConstraint(
                        fields=("connection", "provider_event_id"),
                        name="lock_event_once_per_connection",
                    ),
                ),
                migrations.AddIndex(
                    model_name="devicealert",
                    index=models.Index(
                        fields=["organization", "resolved_at"], name="device_alert_org_open"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="devicealert",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("resolved_at__isnull", True)),
                        fields=("device", "kind", "access_code_id"),
                        name="device_alert_one_open_per_problem",
                    ),
                ),
            ],
        ),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]
