from django.apps import AppConfig


class ReservationsConfig(AppConfig):
    name = "reservations"
    verbose_name = "Reservations"

    def ready(self) -> None:
        from locks import signals as locks_signals
        from properties import signals as properties_signals

        from . import panels, receivers, turnovers

        panels.register_dashboard_section("turnovers", turnovers.dashboard_section, order=5)

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
