"""The batch import/export docs' own paths (/ls/api/batch/import, …/export, …/status), so
their Python examples work with only the host and token changed, and the download links
their exports hand out."""

from django.urls import path, re_path

from apps.core.api.errors import not_found
from apps.transfers import api as transfers

urlpatterns = [
    path("batch/import", transfers.ImportView.as_view()),
    path("batch/export", transfers.ExportView.as_view()),
    path("batch/status", transfers.StatusView.as_view()),
    path("batch/download/<str:token>", transfers.download, name="download"),
    re_path(r"^[\s\S]*$", not_found),
]
