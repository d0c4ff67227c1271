"""The batch ingestion docs' own paths (/data/foundation/import/batches…,
/data/foundation/catalog/batch/{id}), so their curl examples work with only the host and
token changed: the same views as /v1/batches and /v1/batch/{id}."""

from django.urls import path, re_path

from apps.core.api.errors import not_found
from apps.ingestion import api as ingestion

urlpatterns = [
    path("import/batches", ingestion.BatchListView.as_view()),
    path("import/batches/<str:batch_id>", ingestion.BatchView.as_view()),
    path(
        "import/batches/<str:batch_id>/datasets/<str:dataset_id>/files/<path:name>",
        ingestion.BatchFileView.as_view(),
    ),
    path("catalog/batch/<str:batch_id>", ingestion.BatchCatalogView.as_view()),
    re_path(r"^[\s\S]*$", not_found),
]
