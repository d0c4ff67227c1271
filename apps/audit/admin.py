from django.contrib import admin

from apps.audit.models import AuditEvent
from apps.core.admin import OrganisationScopedAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(OrganisationScopedAdmin):
    """Read only, for everyone, superusers included: the trail is what happened."""

    list_display = ["created_at", "actor_name", "surface", "action", "target_name", "organisation"]
    list_filter = ["surface", "target_type", "organisation"]
    list_select_related = ["organisation"]
    search_fields = ["action", "target_name", "actor_name"]
    readonly_fields = [field.name for field in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
