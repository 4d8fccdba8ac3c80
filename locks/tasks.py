"""django-q2 entry points: thin, called with ids, delegating to services."""

import logging

from .gateway import ProviderError
from .models import LockProviderConnection
from .services import devices_sync

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
