"""The console's audit trail: the organisation's changes, filtered (admins)."""

from django.views.decorators.http import require_GET

from apps.accounts.permissions import view_role
from apps.audit.forms import AuditFilterForm
from apps.audit.models import AuditEvent
from apps.audit.selectors import events_matching
from apps.core.console import console_view, render_list
from apps.core.pagination import keyset_page


@require_GET
@console_view(view_role(AuditEvent))
def audit_list(request, ws):
    form = AuditFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    events = events_matching(ws.organisation, filters)
    page = keyset_page(events, "created_at", request.GET.get("before", ""))
    return render_list(
        request, "audit/audit_list.html", {"section": "audit", "form": form, "page": page}
    )
