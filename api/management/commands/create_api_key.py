from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from core.access import Role
from properties.models import Organization

from ...services import api_key_create


class Command(BaseCommand):
    help = (
        "Create an API key of one organization and print it (once: only its hash is kept). "
        "The key acts in that organization only, with the role given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--organization", required=True, help="The organization's name.")
        parser.add_argument("--name", required=True, help="A label, e.g. the PMS it is for.")
        parser.add_argument(
            "--role",
            choices=Role.values,
            default=Role.STAFF,
            help="staff (default): reads everything, writes reservations; manager: also "
            "changes properties, listings, locks and connections.",
        )

    def handle(self, *args, organization, name, role, **options):
        try:
            org = Organization.objects.get(name=organization)
        except Organization.DoesNotExist:
            raise CommandError(
                f"No organization is named {organization!r} (names are exact, as in the admin)."
            ) from None
        try:
            api_key, plaintext = api_key_create(organization=org, name=name, role=role)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Created the {role} API key {api_key.name!r} of {org.name} "
                f"(prefix {api_key.prefix}). Store it now, it is not shown again:"
            )
        )
        self.stdout.write(plaintext)
