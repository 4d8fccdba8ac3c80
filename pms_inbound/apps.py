from django.apps import AppConfig


class PmsInboundConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "pms_inbound"
    verbose_name = "PMS bookings (incoming webhooks)"
