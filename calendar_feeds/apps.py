from django.apps import AppConfig


class CalendarFeedsConfig(AppConfig):
    """Calendar feeds: a listing's iCal exports (Airbnb, Vrbo, Booking.com…) read on a
    schedule, their bookings turned into stays that follow them."""

    name = "calendar_feeds"
    verbose_name = "Calendar feeds"
