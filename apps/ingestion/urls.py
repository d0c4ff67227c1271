from django.urls import path

from apps.ingestion import views

urlpatterns = [
    path("datasets/", views.dataset_list, name="datasets"),
    path("datasets/new", views.dataset_edit, name="dataset_new"),
    path("datasets/schema-row", views.schema_row, name="schema_row"),
    path("datasets/<int:pk>/", views.dataset_detail, name="dataset"),
    path("datasets/<int:pk>/edit", views.dataset_edit, name="dataset_edit"),
    path("batches/", views.batch_list, name="batches"),
    path("batches/<int:pk>/", views.batch_detail, name="batch"),
    path("batches/<int:pk>/<str:action>", views.batch_action, name="batch_action"),
]
