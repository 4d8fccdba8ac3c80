"""Codes made outside Keystay (the lock's own app, a PMS): imported and kept read-only.

Keystay reads them to show who else can open a door and to keep its own codes off their
digits; it never changes them at the provider, and removes one only when a manager marked
it leftover and confirmed its removal (locks.leftovers). A code gone at the provider is
gone here too (its events keep the name they were attributed to).
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from .gateway import ProviderCode, ProviderError, SeamGateway
from .models import Device, LockProviderConnection, UnmanagedCode
from .signals import unmanaged_codes_added

logger = logging.getLogger(__name__)


@dataclass
class UnmanagedImportResult:
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    failed_devices: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (
            f"{self.added} new, {self.changed} changed, {self.unchanged} unchanged, "
            f"{self.removed} gone"
        )
        if self.failed_devices:
            text += f"; could not read {', '.join(self.failed_devices)}"
        return text


def unmanaged_codes_import(
    *,
    connection: LockProviderConnection,
    device_ids: Iterable[int] | None = None,
    now: datetime.datetime | None = None,
    gateway: SeamGateway | None = None,
) -> UnmanagedImportResult:
    """Read each lock's unmanaged codes at the provider and mirror them.

    One lock that cannot be read (offline, unsupported by its provider) keeps its codes
    as last seen and holds up none of the others. A refused API key stops the import.
    `gateway`: the connection's client a caller already has open (the per-lock reconcile
    passes its own); without one, a client is opened for this import and closed after.
    """
    now = now or timezone.now()
    result = UnmanagedImportResult()
    devices = connection.devices.filter(kind=Device.Kind.LOCK, removed_at__isnull=True)
    if device_ids is not None:
        devices = devices.filter(pk__in=list(device_ids))
    devices = list(devices.order_by("pk"))
    if not devices:
        return result
    fetched: dict[int, list[ProviderCode]] = {}
    # Provider calls first, outside any transaction: no row is locked while waiting.
    with contextlib.ExitStack() as opened:
        if gateway is None:
            gateway = opened.enter_context(SeamGateway.for_connection(connection))
        for device in devices:
            try:
                fetched[device.pk] = gateway.list_unmanaged_codes(
                    device_id=device.provider_device_id
                )
            except ProviderError as error:
                if error.kind == "unauthorized":
                    raise
                result.failed_devices.append(device.name)
                logger.warning(
                    "Unmanaged codes of device %s not read: %s", device.pk, error.message
                )
    for device in devices:
        if device.pk in fetched:
            _apply(device, fetched[device.pk], now, result)
    return result


def unmanaged_codes_read_device(
    *, device: Device, gateway: SeamGateway, now: datetime.datetime
) -> list[ProviderCode]:
    """Read one lock's unmanaged codes and mirror them, raising ProviderError when the
    lock cannot be read (a leftover's removal is confirmed by this read)."""
    infos = gateway.list_unmanaged_codes(device_id=device.provider_device_id)
    _apply(device, infos, now, UnmanagedImportResult())
    return infos


def _apply(device: Device, infos: list[ProviderCode], now, result: UnmanagedImportResult) -> None:
    with transaction.atomic():
        # Unordered: the model's ordering would join each row to its lock to sort them.
        existing = {
            c.provider_id: c for c in UnmanagedCode.objects.filter(device=device).order_by()
        }
        seen: set[str] = set()
        unchanged: list[int] = []
        added: list[UnmanagedCode] = []
        for info in infos:
            if info.provider_id in seen:
                continue
            seen.add(info.provider_id)
            values = {
                "name": info.name[:200],
                "starts_at": info.starts_at,
                "ends_at": info.ends_at,
                "status": info.status[:32],
            }
            row = existing.get(info.provider_id)
            if row is None:
                row = UnmanagedCode(
                    organization_id=device.organization_id,
                    device=device,
                    provider_id=info.provider_id,
                    first_seen_at=now,
                    last_seen_at=now,
                    **values,
                )
                row.code = info.code
                row.save()
                added.append(row)
                result.added += 1
            elif info.code != row.code or any(getattr(row, k) != v for k, v in values.items()):
                for name, value in values.items():
                    setattr(row, name, value)
                row.code = info.code
                row.last_seen_at = now
                # The provider's fields only: a manager marking it leftover meanwhile stays.
                row.save(update_fields=[*values, "code_ciphertext", "code_length", "last_seen_at"])
                result.changed += 1
            else:
                unchanged.append(row.pk)
        if unchanged:
            UnmanagedCode.objects.filter(pk__in=unchanged).update(last_seen_at=now)
            result.unchanged += len(unchanged)
        gone = [row.pk for provider_id, row in existing.items() if provider_id not in seen]
        if gone:
            UnmanagedCode.objects.filter(pk__in=gone).delete()
            result.removed += len(gone)
        if added:
            # An unlock reported before its code was imported gets its name (above us).
            unmanaged_codes_added.send(sender=UnmanagedCode, device=device, codes=added)
