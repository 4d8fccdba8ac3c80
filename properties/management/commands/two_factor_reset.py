from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from properties.two_factor import two_factor_turn_off


class Command(BaseCommand):
    help = (
        "Remove a person's authenticator app and recovery codes (a lost phone). Their next "
        "sign-in asks them to set up a new app where two-factor sign-in is required."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        model = get_user_model()
        try:
            user = model.objects.get(**{model.USERNAME_FIELD: username})
        except model.DoesNotExist as error:
            raise CommandError(f"No account named {username!r}.") from error
        two_factor_turn_off(user=user)
        self.stdout.write(self.style.SUCCESS(f"Two-factor sign-in of {username} is reset."))
