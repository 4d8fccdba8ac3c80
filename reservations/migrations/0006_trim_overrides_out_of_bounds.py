"""Trim existing overrides to the bounds now enforced when one is set.

Overrides set before the bounds may keep a guest's code on the door for a month, or during
the next guest's stay. Each override of a confirmed stay is narrowed by the same rule as
re-planning (reservations.services.override_limits, a pure function of instants), its
lead time capped at a week, and its lock's plan moved to match and made due at once, so
that the sweeper updates the code at the provider.
"""

import datetime
import logging

from django.db import migrations
from django.db.models import Q
from django.utils import timezone

from reservations.services import override_limits

logger = logging.getLogger("reservations.migrations")

# Frozen here: the values of this migration's day.
DEFAULT_LEAD_MINUTES = 24 * 60
MAX_LEAD_MINUTES = 7 * 24 * 60
DEFAULT_EXTENSION_MINUTES = 24 * 60
FINAL_STATES = ("removed", "revoked")


def _minutes(value, default):
    return datetime.timedelta(minutes=default if value is None else value)


def trim_overrides(apps, schema_editor):
    AccessOverride = apps.get_model("reservations", "AccessOverride")
    Reservation = apps.get_model("reservations", "Reservation")
    LockAccess = apps.get_model("reservations", "LockAccess")
    now = timezone.now()
    overrides = (
        AccessOverride.objects.filter(reservation__status="confirmed")
        .filter(
            Q(starts_at__isnull=False)
            | Q(ends_at__isnull=False)
            | Q(lead_time_minutes__gt=MAX_LEAD_MINUTES)
        )
        .select_related("reservation__listing", "assignment")
        .order_by("pk")
    )
    for override in overrides.iterator():
        reservation, listing = override.reservation, override.reservation.listing
        window = (
            reservation.check_in - datetime.timedelta(minutes=listing.buffer_before_minutes),
            reservation.check_out + datetime.timedelta(minutes=listing.buffer_after_minutes),
        )
        extension = _minutes(listing.override_max_extension_minutes, DEFAULT_EXTENSION_MINUTES)
        neighbours = (
            Reservation.objects.filter(
                status="confirmed",
                listing__assignments__device_id=override.assignment.device_id,
                listing__assignments__guest_access=True,
                check_in__lt=window[1] + extension,
                check_out__gt=window[0] - extension,
            )
            .exclude(pk=reservation.pk)
            .values_list("check_in", "check_out")
            .distinct()
        )
        earliest, latest = override_limits(
            window=window, extension=extension, neighbours=list(neighbours)
        )
        starts, ends = override.starts_at, override.ends_at
        if starts is not None and starts < earliest:
            starts = earliest
        if ends is not None and ends > latest:
            ends = latest
        if starts is not None and ends is not None and ends <= starts:
            starts = ends = None
        lead = override.lead_time_minutes
        if lead is not None and lead > MAX_LEAD_MINUTES:
            lead = MAX_LEAD_MINUTES
        if (starts, ends, lead) == (
            override.starts_at,
            override.ends_at,
            override.lead_time_minutes,
        ):
            continue
        note = (
            "Trimmed by the upgrade that bounds overrides: beyond its bound or into another stay."
        )
        logger.info("Override %s of reservation %s: %s", override.pk, reservation.pk, note)
        override.starts_at, override.ends_at, override.lead_time_minutes = starts, ends, lead
        override.trimmed_at, override.trim_note = now, note
        override.save(
            update_fields=["starts_at", "ends_at", "lead_time_minutes", "trimmed_at", "trim_note"]
        )
        # The lock's plan follows at once; the sweeper brings the provider in line.
        plan_starts = starts or window[0]
        plan_ends = ends or window[1]
        lead_time = _minutes(
            lead,
            DEFAULT_LEAD_MINUTES
            if listing.code_lead_time_minutes is None
            else listing.code_lead_time_minutes,
        )
        LockAccess.objects.filter(
            reservation=reservation, device_id=override.assignment.device_id, wanted=True
        ).exclude(state__in=FINAL_STATES).update(
            starts_at=plan_starts,
            ends_at=plan_ends,
            program_at=plan_starts - lead_time,
            due_at=now,
            updated_at=now,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("properties", "0004_listing_override_max_extension"),
        ("reservations", "0005_override_lead_time_bound_and_trim_record"),
    ]

    operations = [migrations.RunPython(trim_overrides, migrations.RunPython.noop)]
