from django.db import models

from apps.core.models import OrganisationOwned
from apps.scheduling.models import Execution


class ExecutionLogChunk(OrganisationOwned):
    """A piece of an execution's log, stored as the run goes so it can be tailed live.

    Offsets count characters from the start of the log: a reader asks for what follows
    the offset it already has."""

    organisation_lookup = "execution__organisation"

    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="log_chunks")
    offset = models.PositiveBigIntegerField()
    end = models.PositiveBigIntegerField()
    text = models.TextField()

    class Meta:
        ordering = ["execution", "offset"]
        constraints = [
            models.UniqueConstraint(fields=["execution", "offset"], name="log_chunk_offset_unique"),
        ]

    def __str__(self):
        return f"Log of execution {self.execution_id} [{self.offset}:{self.end}]"


class Worker(models.Model):
    """A worker process, as it last reported itself: how well it can confine plugin code.
    The dashboard warns about workers whose isolation is weaker than production's."""

    name = models.CharField(max_length=128, unique=True, help_text="host:pid")
    started_at = models.DateTimeField(auto_now_add=True)
    seen_at = models.DateTimeField()
    isolation = models.TextField(help_text="What confines plugin code here, or what is missing.")
    production_grade = models.BooleanField()

    def __str__(self):
        return self.name
