"""A turnover's email is a guest message of the turnover now (guests 0010 carried each
turnover's notify state over, and runs before this): its own retry fields go."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("reservations", "0025_alerts_named_alerts"),
    ]

    operations = [
        migrations.RemoveField(model_name="turnover", name="notify_attempts"),
        migrations.RemoveField(model_name="turnover", name="notify_error"),
        migrations.RemoveField(model_name="turnover", name="notify_failed_at"),
    ]
