from django.contrib import admin

from apps.core.admin import ActedOnAdmin, OrganisationScopedAdmin, ReadOnlyInline, adopt_saved
from apps.ingestion import services
from apps.ingestion.models import Batch, BatchFile, BatchStatusChange, Dataset
from apps.ingestion.selectors import datasets_with_counts


@admin.register(Dataset)
class DatasetAdmin(OrganisationScopedAdmin):
    list_display = ["name", "organisation", "field_count", "rows", "batch_count", "updated_at"]
    list_filter = ["organisation"]
    list_select_related = ["organisation"]
    search_fields = ["name", "description"]

    def get_queryset(self, request):
        return datasets_with_counts(super().get_queryset(request))

    @admin.display(description="fields")
    def field_count(self, dataset):
        return len(dataset.schema)

    @admin.display(description="rows", ordering="rows")
    def rows(self, dataset):
        return dataset.rows

    @admin.display(description="batches", ordering="batch_count")
    def batch_count(self, dataset):
        return dataset.batch_count

    def get_readonly_fields(self, request, obj=None):
        return ["organisation"] if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            changes = {
                f: form.cleaned_data[f]
                for f in form.changed_data
                if f in ("name", "description", "schema")
            }
            obj.refresh_from_db()
            services.dataset_update(dataset=obj, **changes)
            return
        adopt_saved(
            obj,
            services.dataset_create(
                organisation=obj.organisation,
                name=obj.name,
                schema=obj.schema,
                description=obj.description,
            ),
        )

    def delete_with_service(self, request, obj):
        services.dataset_delete(dataset=obj)


class BatchFileInline(ReadOnlyInline):
    model = BatchFile
    fields = readonly_fields = ("name", "size", "complete", "created_at")


class BatchStatusChangeInline(ReadOnlyInline):
    model = BatchStatusChange
    fields = readonly_fields = ("created_at", "from_status", "to_status", "user", "reason")


@admin.register(Batch)
class BatchAdmin(ActedOnAdmin):
    list_display = [
        "pk",
        "dataset",
        "organisation",
        "status",
        "file_count",
        "records_written",
        "error_count",
        "created_at",
    ]
    list_filter = ["status", "organisation"]
    list_select_related = ["dataset", "organisation"]
    date_hierarchy = "created_at"
    search_fields = ["dataset__name"]
    readonly_fields = [
        "dataset",
        "organisation",
        "execution",
        "status",
        "input_format",
        "errors",
        "error_count",
        "file_count",
        "bytes",
        "records_read",
        "records_written",
        "data",
        "attempts",
        "worker",
        "heartbeat_at",
        "created_by",
        "updated_by",
        "created_at",
        "updated_at",
    ]
    inlines = [BatchFileInline, BatchStatusChangeInline]
    actions = ["abort", "revert", "delete_data"]

    def has_add_permission(self, request):
        return False  # batches are loaded through the API, by people and plugins

    @admin.action(description="Abort the selected loading batches")
    def abort(self, request, queryset):
        self.apply_service(
            request, queryset, lambda b: services.batch_abort(batch=b, user=request.user), "Aborted"
        )

    @admin.action(description="Revert the selected active batches")
    def revert(self, request, queryset):
        self.apply_service(
            request,
            queryset,
            lambda b: services.batch_revert(batch=b, user=request.user),
            "Reverted",
        )

    @admin.action(description="Delete the data of the selected batches")
    def delete_data(self, request, queryset):
        self.apply_service(
            request,
            queryset,
            lambda b: services.batch_delete(batch=b, user=request.user),
            "Deleted",
        )
