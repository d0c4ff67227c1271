"""import-data-for-customer: the seed's example plugin, importing a customer's data.

It reads rows from the customer's feed (generated here, so the demo needs no network),
reports its progress as it goes and returns how many rows it imported. The parameter
pause_seconds slows each batch down, to watch a run live."""

import random
import time

from batchworks_sdk import IntegrationBatchPlugin


class ImportDataForCustomer(IntegrationBatchPlugin):
    def run(self, context):
        provider = context.properties.get("provider", "unknown provider")
        rows = int(context.parameters.get("rows", 500))
        batch_size = int(context.properties.get("batch_size", 100))
        pause = float(context.parameters.get("pause_seconds", 0))
        context.logger.info("Importing %d rows from %s", rows, provider)

        rng = random.Random(context.execution_id)
        imported = rejected = 0
        for start in range(0, rows, batch_size):
            batch = [rng.random() for _ in range(min(batch_size, rows - start))]
            good = sum(1 for value in batch if value > 0.01)
            imported += good
            rejected += len(batch) - good
            context.progress(completed=imported, failed=rejected, total=rows)
            if pause:
                context.logger.info("Batch at row %d done", start)
                time.sleep(pause)
        context.logger.info("Imported %d rows, rejected %d", imported, rejected)
        return {"imported_rows": imported, "rejected_rows": rejected}
