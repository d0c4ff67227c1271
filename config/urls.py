from django.contrib import admin
from django.urls import include, path

from apps.core.health import healthz
from apps.core.metrics import metrics
from apps.search.views import search

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("v1/", include(("config.api_urls", "api"))),
    path("data/foundation/", include(("config.foundation_urls", "foundation"))),
    path("ls/api/", include(("config.ls_urls", "transfers"))),
    path("", include("apps.accounts.urls")),
    path("", include("apps.plugins.urls")),
    path("", include("apps.scheduling.urls")),
    path("", include("apps.ingestion.urls")),
    path("", include("apps.transfers.urls")),
    path("", include("apps.feeds.urls")),
    path("", include("apps.alerts.urls")),
    path("", include("apps.audit.urls")),
    path("search/", search, name="search"),
]
