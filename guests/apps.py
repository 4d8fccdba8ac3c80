from django.apps import AppConfig


class GuestsConfig(AppConfig):
    """Getting the code to the guest: message templates, scheduled and on-demand messages,
    the private guest page, and the record of every delivery."""

    name = "guests"
    verbose_name = "Guest messages"
