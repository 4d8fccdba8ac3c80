"""A guest message may belong to a turnover instead of a stay: the crew task email goes
through the same delivery records. What each turnover's email had done so far (its
`notified_at`, or its failed tries) becomes a message: a sent one with what the assignee
was told, or one retrying now; reservations 0025 then drops the turnover's own fields."""

import datetime
import json

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

from core.crypto import decrypt, encrypt


def _told(turnover, LockAccess) -> str:
    """The facts the assignee read: the code's window and each staff door with its code."""
    buffer = datetime.timedelta(minutes=turnover.listing.turnover_buffer_minutes or 0)
    doors = []
    accesses = LockAccess.objects.filter(turnover_id=turnover.pk, wanted=True).exclude(
        state__in=["removed", "revoked"]
    )
    for access in accesses.select_related("assignment", "device"):
        name = access.device.name
        if access.assignment_id is not None and access.assignment.label:
            name = access.assignment.label
        cipher = access.code_ciphertext or access.provider_code_ciphertext
        doors.append([name, decrypt(cipher) if cipher else ""])
    facts = {
        "check_in": (turnover.starts_at - buffer).astimezone(datetime.UTC).isoformat(),
        "check_out": (turnover.ends_at + buffer).astimezone(datetime.UTC).isoformat(),
        "doors": sorted(doors),
    }
    return encrypt(json.dumps(facts, sort_keys=True))


def carry_over(apps, schema_editor):
    Turnover = apps.get_model("reservations", "Turnover")
    LockAccess = apps.get_model("reservations", "LockAccess")
    GuestMessage = apps.get_model("guests", "GuestMessage")
    now = timezone.now()
    told = Turnover.objects.filter(notified_at__isnull=False, assignee__isnull=False)
    for turnover in told.select_related("listing", "assignee").iterator():
        GuestMessage.objects.create(
            organization_id=turnover.organization_id,
            turnover_id=turnover.pk,
            kind="crew_task",
            channel="email",
            trigger="turnover",
            state="sent",
            recipient=turnover.assignee.email,
            sent_at=turnover.notified_at,
            facts_ciphertext=_told(turnover, LockAccess),
        )
    # An email that failed and was still being retried: retried now, its tries kept.
    failing = Turnover.objects.filter(
        notified_at__isnull=True,
        assignee__isnull=False,
        state__in=["planned", "started"],
        ends_at__gt=now,
    ).exclude(notify_error="")
    for turnover in failing.select_related("assignee").iterator():
        GuestMessage.objects.create(
            organization_id=turnover.organization_id,
            turnover_id=turnover.pk,
            kind="crew_task",
            channel="email",
            trigger="turnover",
            state="retrying",
            recipient=turnover.assignee.email,
            due_at=now,
            attempts=min(turnover.notify_attempts, 4),
            last_error=turnover.notify_error,
            last_error_at=turnover.notify_failed_at,
        )


class Migration(migrations.Migration):
    # The turnover's own notify fields are dropped once they are carried over here.
    run_before = [("reservations", "0025_turnover_notify_fields_moved_to_guest_messages")]

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
        migrations.RunPython(carry_over, migrations.RunPython.noop, elidable=True),
    ]
