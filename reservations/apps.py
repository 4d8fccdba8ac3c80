from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def _repair_search_index(sender, using, **kwargs) -> None:
    from .search_index import sqlite_search_repair

    sqlite_search_repair(connections[using])


class ReservationsConfig(AppConfig):
    name = "reservations"
    verbose_name = "Reservations"

    def ready(self) -> None:
        from locks import signals as locks_signals
        from properties import signals as properties_signals

        from . import panels, receivers, turnovers

        panels.register_dashboard_section("turnovers", turnovers.dashboard_section, order=5)

        post_migrate.connect(
            _repair_search_index, sender=self, dispatch_uid="reservations.repair_search_index"
        )
        properties_signals.listings_changed.connect(
            receivers.replan_listings, dispatch_uid="reservations.replan_on_listing_change"
        )
        locks_signals.listing_locks_changed.connect(
            receivers.replan_listings, dispatch_uid="reservations.replan_on_locks_change"
        )
        locks_signals.devices_synced.connect(
            receivers.alerts_from_devices, dispatch_uid="reservations.alerts_from_devices"
        )
        locks_signals.unmanaged_codes_added.connect(
            receivers.name_earlier_unlocks, dispatch_uid="reservations.name_earlier_unlocks"
        )
        locks_signals.unmanaged_codes_claimed.connect(
            receivers.claim_stay_codes, dispatch_uid="reservations.claim_stay_codes"
        )
