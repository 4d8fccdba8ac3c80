from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from calendar_feeds.models import CalendarFeed
from calendar_feeds.services import feed_create
from locks.models import Device
from locks.services import assignment_create
from properties.models import Property
from properties.services import listing_create


class Command(BaseCommand):
    help = (
        "Demo mode only: give the demo organization a listing fed by the sample Airbnb "
        "calendar that Keystay serves at --url (scripts/run.sh passes it)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", required=True, help="Where the sample calendar is served.")

    def handle(self, *args, url: str, **options):
        if not getattr(settings, "DEMO_MODE", False):
            raise CommandError("The demo feed is only seeded in demo mode (local settings).")
        house = Property.objects.filter(organization__name="Seaside Stays").order_by("pk").first()
        if house is None:
            self.stdout.write("No demo organization: no demo feed.")
            return
        if CalendarFeed.objects.filter(organization_id=house.organization_id).exists():
            self.stdout.write("The demo has its calendar feed already.")
            return
        with transaction.atomic():
            listing = listing_create(property=house, name="Studio 3C", external_id="HH-3C")
            # A lock no listing uses (the fake's Pool House), so the feed's stays get codes.
            free = (
                Device.objects.filter(
                    organization_id=house.organization_id, kind="lock", assignments__isnull=True
                )
                .order_by("-name")
                .first()
            )
            if free is not None:
                assignment_create(listing=listing, device=free, role="primary", guest_access=True)
            feed_create(listing=listing, channel="airbnb", url=url)
        self.stdout.write(
            self.style.SUCCESS(f"Demo listing {listing} is fed by the sample Airbnb calendar.")
        )
