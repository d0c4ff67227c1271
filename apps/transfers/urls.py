from django.urls import path

from apps.transfers import views

urlpatterns = [
    path("jobs/", views.job_list, name="jobs"),
    path("jobs/import", views.job_import, name="job_import"),
    path("jobs/export", views.job_export, name="job_export"),
    path("jobs/export/preview", views.export_preview, name="export_preview"),
    path("jobs/<uuid:pk>/", views.job_detail, name="job"),
    path("jobs/<uuid:pk>/cancel", views.job_cancel, name="job_cancel"),
]
