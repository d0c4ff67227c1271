from django.contrib import admin

from apps.core.admin import ActedOnAdmin, ReadOnlyInline
from apps.feeds import services
from apps.feeds.models import AudienceSegmentExternalFeed, FeedBatch, FeedBatchStatusChange


@admin.register(AudienceSegmentExternalFeed)
class FeedAdmin(ActedOnAdmin):
    list_display = [
        "__str__",
        "segment_id",
        "version",
        "organisation",
        "status",
        "creation_status",
        "connection_status",
        "created_at",
    ]
    list_filter = ["status", "connection_status", "organisation"]
    list_select_related = ["version__plugin", "organisation"]
    search_fields = ["name", "segment_id"]
    readonly_fields = [field.name for field in AudienceSegmentExternalFeed._meta.fields]
    actions = ["pause", "resume", "troubleshoot"]

    def has_add_permission(self, request):
        return False  # created through the console and the API, which check its properties

    @admin.action(description="Pause the selected feeds")
    def pause(self, request, queryset):
        self.apply_service(
            request, queryset, lambda f: services.feed_pause(feed=f, user=request.user), "Paused"
        )

    @admin.action(description="Resume the selected feeds")
    def resume(self, request, queryset):
        self.apply_service(
            request, queryset, lambda f: services.feed_resume(feed=f, user=request.user), "Resumed"
        )

    @admin.action(description="Troubleshoot the selected feeds")
    def troubleshoot(self, request, queryset):
        self.apply_service(
            request,
            queryset,
            lambda f: services.feed_troubleshoot(feed=f, user=request.user),
            "Asked to troubleshoot",
        )


class FeedBatchStatusChangeInline(ReadOnlyInline):
    model = FeedBatchStatusChange
    fields = readonly_fields = ("created_at", "from_status", "to_status", "user", "reason")


@admin.register(FeedBatch)
class FeedBatchAdmin(ActedOnAdmin):
    list_display = [
        "id",
        "feed",
        "grouping_key",
        "status",
        "line_count",
        "attempts",
        "send_items_in_success",
        "send_items_in_error",
        "created_at",
    ]
    list_filter = ["status"]
    list_select_related = ["feed"]
    raw_id_fields = ["feed"]
    search_fields = ["grouping_key", "message"]
    readonly_fields = [field.name for field in FeedBatch._meta.fields]
    inlines = [FeedBatchStatusChangeInline]
    actions = ["replay"]

    def has_add_permission(self, request):
        return False  # batches are flushed by the workers

    @admin.action(description="Replay the selected failed batches")
    def replay(self, request, queryset):
        self.apply_service(
            request,
            queryset,
            lambda b: services.batch_replay(batch=b, user=request.user),
            "Replayed",
        )
