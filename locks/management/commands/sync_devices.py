from django.core.management.base import BaseCommand, CommandError

from core.text import counted
from locks.gateway import ProviderError
from locks.models import LockProviderConnection
from locks.services import devices_sync


class Command(BaseCommand):
    help = "Import devices from every lock provider connection (or one organization's) now."

    def add_arguments(self, parser):
        parser.add_argument("--organization", help="Only this organization's connections.")

    def handle(self, *args, organization=None, **options):
        connections = LockProviderConnection.objects.select_related("organization")
        if organization:
            connections = connections.filter(organization__name=organization)
            if not connections.exists():
                raise CommandError(f"No connection found for organization {organization!r}.")
        failures = 0
        for connection in connections:
            label = f"{connection.organization} / {connection}"
            try:
                result = devices_sync(connection=connection)
            except ProviderError as error:
                failures += 1
                self.stderr.write(self.style.ERROR(f"{label}: {error.message}"))
            else:
                self.stdout.write(f"{label}: {result}")
        if failures:
            raise CommandError(
                f"{counted(failures, 'connection')} failed; devices imported before are kept."
            )
