from django.apps import AppConfig


class GuestsConfig(AppConfig):
    """Getting the code to the guest: message templates, scheduled and on-demand messages,
    the private guest page, and the record of every delivery."""

    name = "guests"
    verbose_name = "Guest messages"

    def ready(self) -> None:
        from reservations import panels, signals

        from . import checks, receivers  # noqa: F401  (checks register themselves)
        from .panel import reservation_panel

        signals.stay_event.connect(receivers.on_stay_event, dispatch_uid="guests.messages")
        panels.register("guest-messages", "Guest messages", reservation_panel, order=10)
