"""Hooks by which `locks` tells the apps above it that something changed.

`locks` never imports those apps: they connect receivers to these signals in their
`AppConfig.ready()`.
"""

from django.dispatch import Signal

# A listing's locks changed (assignments, guest access, a device gone at the provider):
# its stays re-plan. kwargs: listing_ids (list[int]); defer (bool): re-plan after the
# commit, in short transactions, instead of inside the caller's transaction.
listing_locks_changed = Signal()

# A connection's devices were just imported (online state and battery are fresh).
# kwargs: connection.
devices_synced = Signal()

# Codes made outside Keystay were found on a device for the first time.
# kwargs: device, codes (list of UnmanagedCode).
unmanaged_codes_added = Signal()
