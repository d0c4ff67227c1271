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
