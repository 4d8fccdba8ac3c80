from django.apps import AppConfig


class CalendarFeedsConfig(AppConfig):
    """Calendar feeds: a listing's iCal exports (Airbnb, Vrbo, Booking.com…) read on a
    schedule, their bookings turned into stays that follow them."""

    name = "calendar_feeds"
    verbose_name = "Calendar feeds"

    def ready(self) -> None:
        from locks import listing_import as listing_import_columns
        from reservations import panels as reservation_panels

        from . import panels
        from .listing_import import IMPORT_COLUMN

        listing_import_columns.register_column(IMPORT_COLUMN)

        reservation_panels.register_dashboard_section(
            "calendar-feeds", panels.dashboard_section, order=10
        )
        reservation_panels.register("calendar-feed", "Source", panels.reservation_panel, order=5)
