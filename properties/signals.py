"""Hooks by which `properties` tells the apps above it that something changed."""

from django.dispatch import Signal

# Listings' code rules changed (times, lead time, buffers, code length or style): their
# stays re-plan. kwargs: listing_ids (list[int]); defer (bool), as locks' signal.
listings_changed = Signal()
