"""Reads about datasets and batches, each a fixed number of queries."""

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce

from apps.core.pagination import Page, in_days, keyset_page
from apps.core.stored import open_stored
from apps.ingestion.models import Batch, BatchStatus, Dataset
from apps.ingestion.readers import open_parquet

PREVIEW_ROWS = 20


def datasets_with_counts(queryset):
    """`rows` (of Active batches) and `batch_count`, computed in the same query."""
    return queryset.annotate(
        rows=Coalesce(
            Sum("batches__records_written", filter=Q(batches__status=BatchStatus.ACTIVE)), 0
        ),
        batch_count=Count("batches", distinct=True),
    )


def batches_page(organisation, filters: dict, cursor: str = "") -> Page:
    """Newest first, a page at a time (see keyset_page)."""
    batches = Batch.objects.filter(organisation=organisation).select_related("dataset")
    if filters.get("status"):
        batches = batches.filter(status=filters["status"])
    if filters.get("dataset"):
        batches = batches.filter(dataset=filters["dataset"])
    if filters.get("execution"):
        batches = batches.filter(execution_id=filters["execution"])
    batches = in_days(batches, "created_at", filters.get("from_date"), filters.get("to_date"))
    return keyset_page(batches, "created_at", cursor)


def batches_with_files():
    return Batch.objects.select_related("dataset").prefetch_related("files")


def dataset_preview(dataset: Dataset, limit: int = PREVIEW_ROWS) -> tuple[list[str], list[list]]:
    """The first rows of the dataset: of its newest Active batch, as stored."""
    batch = dataset.batches.active().exclude(data="").order_by("-updated_at").first()
    columns = [field["name"] for field in dataset.schema]
    if batch is None:
        return columns, []
    with open_stored(batch.data) as stored:
        first = next(open_parquet(stored).iter_batches(batch_size=limit), None)
    if first is None:
        return columns, []
    table = first.to_pylist()
    return columns, [[_plain(row.get(name)) for name in columns] for row in table]


def _plain(value):
    """Dates as ISO text, maps as objects, booleans as JSON writes them: what JSON and a
    page show."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        return dict(value)
    return value


def datasets_listed():
    """Datasets with their counts, by name: the API's and the console's lists."""
    return datasets_with_counts(Dataset.objects.order_by("name", "pk"))


def dataset_active_data(dataset: Dataset) -> tuple[set[int], list[str]]:
    """The dataset's Active batches and their stored Parquet files, read together."""
    rows = list(
        dataset.batches.filter(status=BatchStatus.ACTIVE).exclude(data="").values_list("pk", "data")
    )
    return {pk for pk, _ in rows}, [data for _, data in rows]


def active_data_by_dataset(dataset_ids: list[int]) -> dict[int, list[str]]:
    """The stored Parquet files of each dataset's Active batches, in one query."""
    found: dict[int, list[str]] = {}
    rows = Batch.objects.filter(dataset_id__in=dataset_ids, status=BatchStatus.ACTIVE)
    for dataset_id, data in rows.exclude(data="").values_list("dataset_id", "data"):
        found.setdefault(dataset_id, []).append(data)
    return found
