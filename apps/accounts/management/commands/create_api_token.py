from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import Organisation
from apps.accounts.services import api_token_create
from apps.audit.context import from_command


class Command(BaseCommand):
    help = "Create an API token for a member of an organisation and print it (shown only once)."

    def add_arguments(self, parser):
        parser.add_argument("--organisation", required=True, help="Organisation name.")
        parser.add_argument("--user", required=True, help="Username of a member.")
        parser.add_argument("--name", default="command line", help="What the token is for.")

    @from_command
    def handle(self, *args, organisation, user, name, **options):
        try:
            organisation = Organisation.objects.get(name=organisation)
        except Organisation.DoesNotExist:
            raise CommandError(f"No organisation is named {organisation!r}.") from None
        try:
            member = get_user_model().objects.get(username=user)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user is named {user!r}.") from None
        try:
            _, raw_token = api_token_create(organisation=organisation, user=member, name=name)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(raw_token)
