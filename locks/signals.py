from django.dispatch import Signal

# A listing's locks changed (assignments, guest access, a device gone): its stays re-plan.
# kwargs: listing_ids (list[int]), defer (bool: re-plan after commit, in short chunks)
listing_locks_changed = Signal()
