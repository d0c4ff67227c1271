"""Reads about import and export jobs, each a fixed number of queries."""

from django.core.files.storage import default_storage
from django.db.models import Prefetch

from apps.core.pagination import Page, in_days, keyset_page
from apps.transfers.models import TransferFile, TransferJob, TransferStatusChange


def jobs_listed():
    """Jobs with their dataset, files and history, for the API's answers."""
    return TransferJob.objects.select_related("dataset").prefetch_related(
        Prefetch("files", queryset=TransferFile.objects.order_by("name")),
        Prefetch(
            "status_changes", queryset=TransferStatusChange.objects.order_by("created_at", "pk")
        ),
    )


def jobs_page(organisation, filters: dict, cursor: str = "") -> Page:
    """The console's Jobs list: newest first, a page at a time (see keyset_page)."""
    jobs = TransferJob.objects.filter(organisation=organisation).select_related("dataset")
    for field in ("status", "kind", "dataset"):
        if filters.get(field):
            jobs = jobs.filter(**{field: filters[field]})
    jobs = in_days(jobs, "submitted_at", filters.get("from_date"), filters.get("to_date"))
    return keyset_page(jobs, "submitted_at", cursor)


def job_detail(organisation, job_id):
    """The job with what its page shows, or None if the organisation has no such job."""
    return (
        jobs_listed()
        .select_related("created_by")
        .filter(organisation=organisation, pk=job_id)
        .first()
    )


def export_file_stream(file: TransferFile):
    return default_storage.open(file.stored, "rb")
