"""What each turnover's email had done so far (its `notified_at`, or its failed tries)
becomes a guest message of the turnover: a sent one with what the assignee was told, or
one retrying now; reservations 0025 then drops the turnover's own fields. Apart from
0009: PostgreSQL refuses that migration's deferred indexes on a table with rows written
in the same transaction."""

import datetime
import json

from django.db import migrations
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
    run_before = [("reservations", "0026_turnover_notify_fields_moved_to_guest_messages")]

    dependencies = [
        ("guests", "0009_crew_messages_for_turnovers"),
        ("reservations", "0024_turnover_notify_retries"),
    ]

    operations = [
        migrations.RunPython(carry_over, migrations.RunPython.noop, elidable=True),
    ]
