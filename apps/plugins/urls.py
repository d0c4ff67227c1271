from django.urls import path

from apps.plugins import views

urlpatterns = [
    path("plugins/", views.plugin_list, name="plugins"),
    path("plugins/new", views.plugin_new, name="plugin_new"),
    path("plugins/<int:pk>/", views.plugin_detail, name="plugin"),
    path("plugins/<int:pk>/versions/new", views.version_new, name="version_new"),
    path(
        "plugins/<int:pk>/versions/<int:version_pk>/code", views.version_code, name="version_code"
    ),
    path(
        "plugins/<int:pk>/versions/<int:version_pk>/download",
        views.version_download,
        name="version_download",
    ),
    path("plugins/<int:pk>/versions/property-row", views.property_row, name="property_row"),
]
