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

# Before Keystay marks or removes codes it did not make (leftovers): which of them do the
# apps above hold as theirs (a guest's, a crew member's)? kwargs: codes (list of
# UnmanagedCode). Each receiver returns {UnmanagedCode pk: why it is theirs}; any answer
# refuses the code. Sent with send(), not send_robust(): a receiver that fails refuses
# the whole act rather than letting a code through unchecked.
unmanaged_codes_claimed = Signal()
