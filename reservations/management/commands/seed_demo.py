import datetime
import unicodedata

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from locks.gateway import ProviderError
from locks.models import LockAssignment
from locks.services import assignments_create, connection_create, devices_sync
from properties.models import Organization
from properties.services import listing_create, organization_create, property_create
from reservations.models import Reservation
from reservations.services import reservation_create, reservation_end_stay

DEMO_USERNAME = "demo"


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


DEMO_PASSWORD = "keystay-demo"


class Command(BaseCommand):
    help = "Seed a demo organization and login into an empty database (demo mode only)."

    def handle(self, *args, **options):
        if not getattr(settings, "DEMO_MODE", False):
            raise CommandError("Demo data is only seeded in demo mode (local settings).")
        if Organization.objects.exists():
            self.stdout.write("The database has data already: no demo seeded.")
            return
        with transaction.atomic():
            organization, flat = self._seed()
        if settings.SEAM_API_KEY:
            self._connect_seam(organization, flat)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo seeded. Log in at /admin/ as {DEMO_USERNAME} / {DEMO_PASSWORD}"
            )
        )

    def _connect_seam(self, organization, flat) -> None:
        """Connect the demo to Seam (the fake server under `make run`), import, assign."""
        try:
            connection = connection_create(
                organization=organization,
                name="Demo Seam workspace",
                api_key=settings.SEAM_API_KEY,
                endpoint=settings.SEAM_ENDPOINT,
            )
            result = devices_sync(connection=connection)
        except ProviderError as error:
            self.stderr.write(f"Demo not connected to Seam: {error.message}")
            return
        self.stdout.write(
            f"Demo connected to Seam workspace {connection.workspace_name}: {result}"
        )
        devices = {d.name: d for d in connection.devices.all()}
        # The fake server's seeded doors, when the demo runs against it.
        if "Garden Gate" in devices and "Building Front Entrance" in devices:
            assignments_create(
                listing=flat, devices=[devices["Garden Gate"]], role=LockAssignment.Role.PRIMARY
            )
            assignments_create(listing=flat, devices=[devices["Side Door"]])
            # As a real setup would: guests' codes on the building's entrance too. Seam's
            # fake server cannot take them (no access-control credentials): the entrance
            # says so (Device.codes_unsupported) and gets no code, rather than failing.
            assignments_create(listing=flat, devices=[devices["Building Front Entrance"]])

    def _seed(self):
        organization, _ = organization_create(
            name="Seaside Stays", owner_username=DEMO_USERNAME, owner_password=DEMO_PASSWORD
        )
        house = property_create(
            organization=organization,
            name="Harbour House",
            address="Rua do Cais 12, Lisboa",
            time_zone="Europe/Lisbon",
        )
        flat = listing_create(property=house, name="Apartment 1A", external_id="HH-1A")
        loft = listing_create(
            property=house,
            name="Loft 2B",
            external_id="HH-2B",
            check_in_time=datetime.time(16, 0),
            code_lead_time_minutes=120,
        )
        zone = house.zone
        today = timezone.localdate(timezone=zone)

        def at(days: int, time: datetime.time) -> datetime.datetime:
            return datetime.datetime.combine(today + datetime.timedelta(days=days), time, zone)

        stays = [
            (flat, "Ana Sousa", -4, -1, Reservation.Status.CHECKED_OUT),
            (flat, "Ben Carter", 0, 3, Reservation.Status.CONFIRMED),
            (flat, "Chloé Martin", 3, 7, Reservation.Status.CONFIRMED),
            (loft, "Diego Ruiz", 1, 4, Reservation.Status.CONFIRMED),
            (loft, "Emma Lindqvist", 6, 9, Reservation.Status.PENDING),
        ]
        for number, (listing, guest, start, end, status) in enumerate(stays, start=1):
            # A stay is checked out only by ending it: the past one is booked, then ended.
            ended = status == Reservation.Status.CHECKED_OUT
            reservation = reservation_create(
                listing=listing,
                guest_name=guest,
                guest_email=f"{_ascii(guest.split()[0].lower())}@example.com",
                check_in=at(start, listing.effective_check_in_time),
                check_out=at(end, listing.effective_check_out_time),
                status=Reservation.Status.CONFIRMED if ended else status,
                source="demo",
                external_id=f"DEMO-{number}",
            )
            if ended:
                reservation_end_stay(reservation=reservation, now=reservation.check_out)
        return organization, flat
