"""django-q2 entry points: thin, called with ids, delegating to services."""

import logging

from .gateway import ProviderError
from .leftovers import leftover_removals_run_due
from .models import LockProviderConnection
from .services import devices_sync
from .unmanaged import unmanaged_codes_import

logger = logging.getLogger(__name__)


def sync_connection(connection_id: int) -> str:
    connection = LockProviderConnection.objects.filter(pk=connection_id).first()
    if connection is None:
        return "connection gone"
    try:
        return str(devices_sync(connection=connection))
    except ProviderError as error:
        # Recorded on the connection (and shown on its page); the next run retries.
        logger.warning("Device import failed for connection %s: %s", connection_id, error)
        return f"failed: {error.message}"


def sync_all_connections() -> str:
    """The periodic import: each connection alone, so that one failure holds up none."""
    results = []
    for connection_id in LockProviderConnection.objects.values_list("pk", flat=True):
        results.append(f"{connection_id}: {sync_connection(connection_id)}")
    return "; ".join(results) or "no connections"


def connections_with_a_key() -> list[int]:
    return list(
        LockProviderConnection.objects.exclude(api_key_ciphertext="")
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def import_unmanaged_codes(connection_id: int, device_id: int | None = None) -> str:
    """Read the unmanaged codes of a connection's locks (or of one lock) again."""
    connection = LockProviderConnection.objects.filter(pk=connection_id).first()
    if connection is None:
        return "connection gone"
    try:
        result = unmanaged_codes_import(
            connection=connection, device_ids=None if device_id is None else [device_id]
        )
    except ProviderError as error:
        logger.warning("Unmanaged codes of connection %s: %s", connection_id, error.message)
        return f"failed: {error.message}"
    return str(result)


def import_all_unmanaged_codes() -> str:
    """The periodic import of unmanaged codes: each connection alone."""
    results = [
        f"{connection_id}: {import_unmanaged_codes(connection_id)}"
        for connection_id in connections_with_a_key()
    ]
    return "; ".join(results) or "no connections"


def remove_leftovers() -> str:
    """Work the removals of leftover codes that are due (a manager's confirmation enqueues
    it; the schedule retries what failed)."""
    return f"{leftover_removals_run_due()} removals worked"
