from django.core.management.base import BaseCommand

from core.schedules import schedules_ensure


class Command(BaseCommand):
    help = "Create or update the cluster's periodic tasks from settings (by stable name)."

    def handle(self, *args, **options):
        for name, outcome in schedules_ensure().items():
            self.stdout.write(f"{name}: {outcome}")
