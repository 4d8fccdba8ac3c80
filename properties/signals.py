"""Hooks by which `properties` tells the apps above it that something changed."""

from django.dispatch import Signal

# Listings' code rules changed (times, lead time, buffers, code length or style): their
# stays re-plan. kwargs: listing_ids (list[int]); defer (bool), as locks' signal.
listings_changed = Signal()

# An organization was created (by the service or in the admin), sent once its transaction
# commits: the apps above give it what a new organization starts with (guests: the
# ready-made message templates). kwargs: organization_id (int).
organization_created = Signal()
