from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Keystay core"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from . import checks  # noqa: F401  (checks register themselves)
        from .schedules import on_cluster_start

        post_spawn.connect(on_cluster_start, dispatch_uid="core.schedules_on_cluster_start")
