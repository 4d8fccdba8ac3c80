from django.apps import AppConfig


class HooksConfig(AppConfig):
    """Outgoing webhooks: endpoints an organization registers (a PMS that messages guests
    itself) and every signed delivery of a code's life to them."""

    name = "hooks"
    verbose_name = "Outgoing webhooks"
