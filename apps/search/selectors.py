"""The header's quick search: what a name or a number finds, a few of each kind, in a
fixed number of queries."""

from dataclasses import dataclass

from django.db.models import Q

from apps.core.text import parse_int
from apps.ingestion.models import Batch
from apps.plugins.models import Plugin
from apps.scheduling.models import Execution, IntegrationBatchInstance

SHOWN = 5  # of each kind


@dataclass(frozen=True)
class Found:
    instances: list[IntegrationBatchInstance]
    executions: list[Execution]
    plugins: list[Plugin]
    batches: list[Batch]

    def __bool__(self) -> bool:
        return any((self.instances, self.executions, self.plugins, self.batches))


def quick_search(organisation, text: str) -> Found:
    """Instances and plugins by name; executions and batches by number ("61" or "#61")."""
    text = text.strip()[:100]
    if not text:
        return Found([], [], [], [])
    number = parse_int(text.removeprefix("#"))
    mine = {"organisation": organisation}
    named = Q(artifact_id__icontains=text) | Q(group_id__icontains=text) | Q(name__icontains=text)
    return Found(
        instances=list(
            IntegrationBatchInstance.objects.filter(**mine, name__icontains=text).order_by(
                "archived", "name"
            )[:SHOWN]
        ),
        executions=_numbered(Execution.objects.filter(**mine).select_related("instance"), number),
        plugins=list(Plugin.objects.filter(named, **mine).order_by("artifact_id")[:SHOWN]),
        batches=_numbered(Batch.objects.filter(**mine).select_related("dataset"), number),
    )


def _numbered(queryset, number: int | None) -> list:
    return list(queryset.filter(pk=number)) if number and number > 0 else []
