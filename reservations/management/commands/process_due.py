from django.core.management.base import BaseCommand

from core.text import counted
from reservations import access_states
from reservations.models import LockAccess
from reservations.provisioning import process_due


class Command(BaseCommand):
    help = "Carry out the code lifecycle's due work (programming, updates, removals, retries)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--now",
            action="store_true",
            help="Also retry failed steps at once instead of waiting for their backoff.",
        )

    def handle(self, *args, now=False, **options):
        from django.utils import timezone

        if now:
            access_states.failed_retry_now(now=timezone.now())
        worked = process_due()
        pending = LockAccess.objects.filter(due_at__isnull=False).count()
        self.stdout.write(
            f"Worked on {counted(worked, 'lock access', 'lock accesses')}; "
            f"{pending} with work scheduled."
        )
