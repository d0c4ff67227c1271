"""The console's audit trail: the organisation's changes, filtered (admins)."""

from django.views.decorators.http import require_GET

from apps.accounts.permissions import view_role
from apps.audit.forms import AuditFilterForm
from apps.audit.models import AuditEvent
from apps.audit.selectors import events_matching
from apps.core.console import console_view, filtered_page, render_list
from apps.core.pagination import keyset_page


@require_GET
@console_view(view_role(AuditEvent))
def audit_list(request, ws):
    form = AuditFilterForm(request.GET or None)
    cursor = request.GET.get("before", "")
    page = filtered_page(
        form,
        lambda filters: keyset_page(
            events_matching(ws.organisation, filters), "created_at", cursor
        ),
    )
    return render_list(
        request, "audit/audit_list.html", {"section": "audit", "form": form, "page": page}
    )
