"""The Batchworks plugin SDK: what plugin code imports.

    from batchworks_sdk import IntegrationBatchPlugin

    class ImportData(IntegrationBatchPlugin):
        def run(self, context):
            context.logger.info("importing for %s", context.properties.get("provider"))
            context.progress(completed=10, total=100)
            return {"imported_rows": 10}

`run` receives an ExecutionContext and returns a JSON-serialisable result (or None). An
exception fails the execution with the exception's message; its traceback goes to the
execution's log, as does everything printed and logged.

External feed plugins subclass AudienceFeedPlugin or BatchedAudienceFeedPlugin instead
(see batchworks_sdk.feeds)."""

from batchworks_sdk.context import ExecutionContext, Properties
from batchworks_sdk.feeds import AudienceFeedPlugin, BatchedAudienceFeedPlugin, FeedContext
from batchworks_sdk.ingestion import Batch, Ingestion, IngestionError

__all__ = [
    "AudienceFeedPlugin",
    "Batch",
    "BatchedAudienceFeedPlugin",
    "ExecutionContext",
    "FeedContext",
    "Ingestion",
    "IngestionError",
    "IntegrationBatchPlugin",
    "Properties",
]


class IntegrationBatchPlugin:
    """Base class of integration batch plugins: implement `run(context)`."""

    def run(self, context: ExecutionContext):
        raise NotImplementedError("An integration batch plugin implements run(context).")
