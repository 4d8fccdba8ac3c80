"""Alerts as work items: staff acknowledge them; they stay in the history once resolved."""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from properties.selectors import manager_emails

from .models import DeviceAlert

logger = logging.getLogger(__name__)


def managers_email(*, organization_id: int, subject: str, lines: list[str], about: str) -> int:
    """Email an alert to the organization's managers (none: nothing sent). A mail server
    down must not undo the alert, which the dashboard shows: logged, 0 returned."""
    recipients = manager_emails(organization_id=organization_id)
    if not recipients:
        return 0
    try:
        return send_mail(
            subject=subject,
            message="\n".join(lines),
            from_email=None,
            recipient_list=recipients,
        )
    except Exception:
        logger.exception("Email about %s not sent", about)
        return 0


def alert_open(
    *,
    device,
    kind: str,
    at,
    event=None,
    access_code_id: str = "",
    reservation=None,
    message: str = "",
) -> DeviceAlert | None:
    """Raise a problem on the dashboard: one open alert per device, kind and key
    (`access_code_id`). Returns the new alert, or None when it was open already (so that
    whoever raised it does not, say, email again)."""
    current = DeviceAlert.objects.filter(
        device=device, kind=kind, access_code_id=access_code_id, resolved_at__isnull=True
    )
    if current.exists():
        return None
    try:
        with transaction.atomic():
            return DeviceAlert.objects.create(
                organization_id=device.organization_id,
                device=device,
                kind=kind,
                access_code_id=access_code_id,
                reservation=reservation,
                event=event,
                message=message[:300],
                opened_at=at,
            )
    except IntegrityError:
        return None  # opened meanwhile by another process: one open alert per problem


def alert_resolve(
    *, device, kind: str, at, resolution: str, access_code_id: str | None = None
) -> None:
    """The cause is gone: the alert is resolved, saying how (it stays in the history)."""
    alerts = DeviceAlert.objects.filter(device=device, kind=kind, resolved_at__isnull=True)
    if access_code_id is not None:
        alerts = alerts.filter(access_code_id=access_code_id)
    alerts.update(resolved_at=at, resolution=resolution[:300])


def _name_of(by) -> str:
    """A person's name as the dashboard shows it, or an API key's label."""
    if by is None:
        return ""
    full_name = getattr(by, "get_full_name", lambda: "")()
    return (full_name or str(by))[:200]


def alert_acknowledge(*, alert: DeviceAlert, by) -> DeviceAlert:
    """Someone has seen the alert and is on it: who and when are recorded, once.

    `by` is a user, or an API key's principal (not a user: only its label is kept). An
    alert about one event (an unlock while vacant) has no cause that could go away by
    itself: acknowledging it resolves it. Others stay open, acknowledged, until resolved.
    """
    now = timezone.now()
    user = by if isinstance(by, get_user_model()) else None
    with transaction.atomic():
        alert = DeviceAlert.objects.select_for_update().get(pk=alert.pk)
        if alert.acknowledged_at is not None:
            return alert  # the first acknowledgement is the one kept
        alert.acknowledged_at = now
        alert.acknowledged_by = user
        alert.acknowledged_by_name = _name_of(by)
        fields = ["acknowledged_at", "acknowledged_by", "acknowledged_by_name"]
        if alert.kind in DeviceAlert.EVENT_KINDS and alert.resolved_at is None:
            alert.resolved_at = now
            alert.resolution = f"Acknowledged by {alert.acknowledged_by_name or 'staff'}."[:300]
            fields += ["resolved_at", "resolution"]
        alert.save(update_fields=fields)
    return alert
