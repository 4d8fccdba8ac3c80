"""Recompute every door code's keyed hash: after KEYSTAY_CODE_LOOKUP_KEY changed (the old
hashes no longer match anything typed), or to repair rows written around the models."""

from django.core.management.base import BaseCommand

from core.crypto import fill_code_digests
from locks.models import UnmanagedCode
from reservations.models import AccessOverride, LockAccess, ReservationCode


class Command(BaseCommand):
    help = "Recompute the keyed hash of every door code (after KEYSTAY_CODE_LOOKUP_KEY changed)."

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=2000, help="rows per batch")

    def handle(self, *args, batch: int, **options):
        for model in (ReservationCode, LockAccess, AccessOverride, UnmanagedCode):
            count = fill_code_digests(model, model.code_digest_fields, batch=batch)
            self.stdout.write(f"{model._meta.verbose_name_plural}: {count} rows")
