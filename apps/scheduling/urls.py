from django.urls import path

from apps.scheduling import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("instances/", views.instance_list, name="instances"),
    path("instances/new", views.instance_new, name="instance_new"),
    path("instances/cron-preview", views.cron_preview, name="cron_preview"),
    path(
        "instances/property-fields", views.instance_property_fields, name="instance_property_fields"
    ),
    path("instances/<int:pk>/", views.instance_detail, name="instance"),
    path("instances/<int:pk>/edit", views.instance_edit, name="instance_edit"),
    path("instances/<int:pk>/pause", views.instance_pause, name="instance_pause"),
    path("instances/<int:pk>/resume", views.instance_resume, name="instance_resume"),
    path("instances/<int:pk>/run", views.instance_run, name="instance_run"),
    path("instances/<int:pk>/archive", views.instance_archive, name="instance_archive"),
    path("instances/<int:pk>/restore", views.instance_restore, name="instance_restore"),
    path("instances/<int:pk>/backfill", views.instance_backfill, name="instance_backfill"),
    path("backfills/<int:pk>/cancel", views.backfill_cancel, name="backfill_cancel"),
    path("executions/", views.execution_list, name="executions"),
    path("executions/<int:pk>/", views.execution_detail, name="execution"),
    path("executions/<int:pk>/log", views.execution_log, name="execution_log"),
    path(
        "executions/<int:pk>/log.txt", views.execution_log_download, name="execution_log_download"
    ),
    path("executions/<int:pk>/cancel", views.execution_cancel, name="execution_cancel"),
    path("executions/<int:pk>/repeat", views.execution_repeat, name="execution_repeat"),
]
