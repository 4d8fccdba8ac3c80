"""A guest message may belong to a turnover instead of a stay (exactly one of the two):
the crew task email goes through the same delivery records (0010 carries over what each
turnover's email had done)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("guests", "0008_ready_early_message_kind"),
        ("properties", "0012_crew_members_and_listing_turnover_settings"),
        ("reservations", "0024_turnover_notify_retries"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="guestmessage",
            name="turnover",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="crew_messages",
                to="reservations.turnover",
            ),
        ),
        migrations.AlterField(
            model_name="guestmessage",
            name="kind",
            field=models.CharField(
                choices=[
                    ("code", "Door codes"),
                    ("changed", "Times or codes changed"),
                    ("ready_early", "Ready early"),
                    ("crew_task", "Crew task"),
                ],
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="guestmessage",
            name="reservation",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="guest_messages",
                to="reservations.reservation",
            ),
        ),
        migrations.AlterField(
            model_name="guestmessage",
            name="trigger",
            field=models.CharField(
                choices=[
                    ("schedule", "Scheduled"),
                    ("change", "After a change"),
                    ("staff", "By staff"),
                    ("event", "On a stay event"),
                    ("turnover", "Turnover planned"),
                ],
                max_length=16,
            ),
        ),
        migrations.AddIndex(
            model_name="guestmessage",
            index=models.Index(fields=["turnover", "-sent_at"], name="crew_message_told"),
        ),
        migrations.AddConstraint(
            model_name="guestmessage",
            constraint=models.UniqueConstraint(
                condition=models.Q(
                    ("state__in", ["planned", "retrying"]),
                    ("trigger__in", ["turnover", "change"]),
                    ("turnover__isnull", False),
                ),
                fields=("turnover", "kind", "trigger"),
                name="crew_message_one_pending_per_turnover",
            ),
        ),
        migrations.AddConstraint(
            model_name="guestmessage",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("reservation__isnull", False), ("turnover__isnull", True)),
                    models.Q(("reservation__isnull", True), ("turnover__isnull", False)),
                    _connector="OR",
                ),
                name="guest_message_for_a_stay_or_a_turnover",
                violation_error_message="A message belongs to a stay or to a turnover.",
            ),
        ),
    ]
