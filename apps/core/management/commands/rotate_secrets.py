from django.core.management.base import BaseCommand
from django.db import transaction

from apps.core.secrets import reseal
from apps.feeds.models import AudienceSegmentExternalFeed
from apps.plugins.models import PluginProperty
from apps.plugins.property_types import SEALED_KEY, PropertyType, is_sealed
from apps.scheduling.models import InstanceProperty


class Command(BaseCommand):
    help = (
        "Re-encrypt every SECRET property with the first key of BATCHWORKS_SECRETS_KEYS. Put "
        "a new key first, keep the old one after it, run this, then remove the old one."
    )

    def handle(self, *args, **options):
        count = 0
        with transaction.atomic():
            for model, type_path in (
                (PluginProperty, "property_type"),
                (InstanceProperty, "property__property_type"),
            ):
                rows = model.objects.filter(**{type_path: PropertyType.SECRET}).select_for_update()
                for row in rows:
                    if is_sealed(row.value):
                        model.objects.filter(pk=row.pk).update(
                            value={SEALED_KEY: reseal(row.value[SEALED_KEY])}
                        )
                        count += 1
            for feed in AudienceSegmentExternalFeed.objects.select_for_update():
                changed = {
                    name: {SEALED_KEY: reseal(value[SEALED_KEY])} if is_sealed(value) else value
                    for name, value in feed.properties.items()
                }
                if changed != feed.properties:
                    count += sum(is_sealed(value) for value in changed.values())
                    AudienceSegmentExternalFeed.objects.filter(pk=feed.pk).update(
                        properties=changed
                    )
        self.stdout.write(f"Re-encrypted {count} secret(s) with the first key.")
