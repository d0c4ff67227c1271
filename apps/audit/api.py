"""/v1/organisations/{id}/audit_events: the organisation's audit trail (admins), read only."""

from drf_spectacular.utils import extend_schema
from rest_framework.views import APIView

from apps.accounts.models import Organisation
from apps.accounts.permissions import view_role
from apps.audit.models import AuditEvent
from apps.audit.selectors import events_matching
from apps.audit.serializers import AuditEventSerializer, AuditFilterSerializer
from apps.core.api.access import Access
from apps.core.api.inputs import valid
from apps.core.api.responses import envelope, page


class AuditEventListView(APIView):
    @extend_schema(
        operation_id="organisations_audit_events_list",
        parameters=[AuditFilterSerializer],
        responses=envelope(AuditEventSerializer, many=True),
    )
    def get(self, request, organisation_id):
        """Who changed what, when and from which surface (admins), newest first. Entries
        are written by the changes themselves; nobody can edit or delete one."""
        organisation = Access.of(request).get(
            Organisation.objects.all(), organisation_id, view_role(AuditEvent)
        )
        params = valid(AuditFilterSerializer, request.query_params)
        return page(events_matching(organisation, params), AuditEventSerializer, params)
