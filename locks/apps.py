from django.apps import AppConfig


class LocksConfig(AppConfig):
    name = "locks"
    verbose_name = "Locks"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
