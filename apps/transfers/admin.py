from django.contrib import admin

from apps.core.admin import ActedOnAdmin, ReadOnlyInline
from apps.transfers import services
from apps.transfers.models import TransferFile, TransferJob, TransferStatusChange


class TransferFileInline(ReadOnlyInline):
    model = TransferFile
    fields = readonly_fields = ("name", "size", "stored")


class TransferStatusChangeInline(ReadOnlyInline):
    model = TransferStatusChange
    fields = readonly_fields = ("created_at", "from_status", "to_status", "user", "reason")


@admin.register(TransferJob)
class TransferJobAdmin(ActedOnAdmin):
    list_display = [
        "job_name",
        "kind",
        "dataset",
        "organisation",
        "status",
        "records_processed",
        "run_time_ms",
        "submitted_at",
    ]
    list_filter = ["status", "kind", "organisation"]
    list_select_related = ["dataset", "organisation"]
    date_hierarchy = "submitted_at"
    search_fields = ["job_name", "dataset__name", "notification_email"]
    readonly_fields = [field.name for field in TransferJob._meta.fields]
    inlines = [TransferFileInline, TransferStatusChangeInline]
    actions = ["cancel"]

    def has_add_permission(self, request):
        return False  # jobs are submitted through the API, the console and the commands

    @admin.action(description="Cancel the selected jobs")
    def cancel(self, request, queryset):
        self.apply_service(
            request,
            queryset,
            lambda job: services.job_cancel(job=job, user=request.user),
            "Canceled",
        )
