from django.apps import AppConfig


class ReservationsConfig(AppConfig):
    name = "reservations"
    verbose_name = "Reservations"

    def ready(self) -> None:
        from locks.signals import listing_locks_changed

        from .receivers import replan_listings

        listing_locks_changed.connect(
            replan_listings, dispatch_uid="reservations.replan_listings_on_lock_change"
        )
