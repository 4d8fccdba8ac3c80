from django.apps import AppConfig


class HooksConfig(AppConfig):
    """Outgoing webhooks: endpoints an organization registers (a PMS that messages guests
    itself) and every signed delivery of a code's life to them."""

    name = "hooks"
    verbose_name = "Outgoing webhooks"

    def ready(self) -> None:
        from reservations import signals

        from . import receivers

        signals.stay_event.connect(
            receivers.record_stay_event, dispatch_uid="hooks.record_stay_event"
        )
