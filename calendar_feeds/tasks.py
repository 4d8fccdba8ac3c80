"""django-q2 entry points: thin, called with ids, delegating to services."""

from .services import feed_sync, feeds_enqueue_due


def sync_due() -> int:
    """The periodic pass: queue a task per due feed (each reads one calendar)."""
    return feeds_enqueue_due()


def sync_feed(feed_id: int) -> str:
    """Read one calendar and reconcile its stays."""
    return feed_sync(feed_id=feed_id).outcome
