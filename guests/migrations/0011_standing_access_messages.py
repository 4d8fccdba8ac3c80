"""A guest message may belong to a standing access (its crew member's code, doors, dates and
working hours): exactly one of a stay, a turnover or a standing access."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("guests", "0010_crew_messages_carried_over"),
        ("properties", "0013_crew_member_language"),
        ("reservations", "0027_standing_access_and_offboarding"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="guestmessage",
            name="guest_message_for_a_stay_or_a_turnover",
        ),
        migrations.AddField(
            model_name="guestmessage",
            name="standing",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="crew_messages",
                to="reservations.standingaccess",
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
                    ("crew_standing", "Standing code"),
                ],
                max_length=16,
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
                    ("standing", "Standing access set"),
                ],
                max_length=16,
            ),
        ),
        migrations.AddIndex(
            model_name="guestmessage",
            index=models.Index(fields=["standing", "-sent_at"], name="standing_message_told"),
        ),
        migrations.AddConstraint(
            model_name="guestmessage",
            constraint=models.UniqueConstraint(
                condition=models.Q(
                    ("state__in", ["planned", "retrying"]),
                    ("trigger__in", ["standing", "change"]),
                    ("standing__isnull", False),
                ),
                fields=("standing", "kind", "trigger"),
                name="crew_message_one_pending_per_standing",
            ),
        ),
        migrations.AddConstraint(
            model_name="guestmessage",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("reservation__isnull", False),
                        ("standing__isnull", True),
                        ("turnover__isnull", True),
                    ),
                    models.Q(
                        ("reservation__isnull", True),
                        ("standing__isnull", True),
                        ("turnover__isnull", False),
                    ),
                    models.Q(
                        ("reservation__isnull", True),
                        ("standing__isnull", False),
                        ("turnover__isnull", True),
                    ),
                    _connector="OR",
                ),
                name="guest_message_for_one_stay_turnover_or_standing",
                violation_error_message="A message belongs to a stay, a turnover or a standing access.",
            ),
        ),
    ]
