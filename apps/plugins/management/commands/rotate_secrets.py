from django.core.management.base import BaseCommand

from apps.audit.context import from_command
from apps.core.text import counted
from apps.plugins.services import secrets_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every SECRET property with the first key of BATCHWORKS_SECRETS_KEYS. Put "
        "a new key first, keep the old one after it, run this, then remove the old one."
    )

    @from_command
    def handle(self, *args, **options):
        self.stdout.write(f"Re-encrypted {counted(secrets_rotate(), 'secret')} with the first key.")
