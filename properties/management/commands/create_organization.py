from django.core.management.base import BaseCommand, CommandError

from properties.models import Organization
from properties.services import organization_create


class Command(BaseCommand):
    help = "Create an organization and its first manager (creating the user if needed)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--owner", required=True, help="Username of the first manager.")
        parser.add_argument("--password", help="Set this password for the manager.")
        parser.add_argument("--email", default="", help="Email of a new manager.")

    def handle(self, *args, name, owner, password, email, **options):
        if Organization.objects.filter(name=name).exists():
            raise CommandError(f"An organization named {name!r} already exists.")
        organization, user_created = organization_create(
            name=name, owner_username=owner, owner_password=password, owner_email=email
        )
        who = "new user" if user_created else "existing user"
        self.stdout.write(
            self.style.SUCCESS(f"Created {organization.name} with manager {owner} ({who}).")
        )
        if user_created and not password:
            self.stdout.write(f"Set a password with: manage.py changepassword {owner}")
