from django.apps import AppConfig


class HooksConfig(AppConfig):
    """Outgoing webhooks: endpoints an organization registers (a PMS that messages guests
    itself) and every signed delivery of a code's life to them."""

    name = "hooks"
    verbose_name = "Outgoing webhooks"

    def ready(self) -> None:
        from django.urls import reverse

        from guests import panel
        from guests.models import GuestMessage
        from reservations import signals

        from . import receivers

        signals.stay_event.connect(
            receivers.record_stay_event, dispatch_uid="hooks.record_stay_event"
        )
        # A guest message recording a webhook links to its delivery (the page that resends).
        panel.register_record_link(
            GuestMessage.Channel.WEBHOOK,
            lambda message: reverse(
                "admin:hooks_webhookdelivery_change", args=[message.reference]
            ),
        )
