from django.apps import AppConfig


class GuestsConfig(AppConfig):
    """Getting the code to the guest: message templates, scheduled and on-demand messages,
    the private guest page, and the record of every delivery."""

    name = "guests"
    verbose_name = "Guest messages"

    def ready(self) -> None:
        from properties.signals import organization_created
        from reservations import panels, signals

        from . import checks, receivers  # noqa: F401  (checks register themselves)
        from .panel import reservation_panel, turnover_panel
        from .standing_notify import on_standing_event

        signals.stay_event.connect(receivers.on_stay_event, dispatch_uid="guests.messages")
        signals.crew_event.connect(receivers.on_crew_event, dispatch_uid="guests.crew")
        signals.standing_event.connect(on_standing_event, dispatch_uid="guests.standing")
        organization_created.connect(
            receivers.on_organization_created, dispatch_uid="guests.ready_made_templates"
        )
        panels.register("guest-messages", "Guest messages", reservation_panel, order=10)
        panels.register_turnover_panel(
            "crew-messages", "Messages to the crew", turnover_panel, order=10
        )
