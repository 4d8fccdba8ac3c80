from django.apps import AppConfig


class DeskConfig(AppConfig):
    """The front desk: today's and tomorrow's stays with their doors and codes for staff,
    and the one search box (a guest, a phone number, a booking or an exact door code)."""

    name = "desk"
    verbose_name = "Front desk"
