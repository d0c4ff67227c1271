from django.db.models import QuerySet

from apps.audit.models import AuditEvent


def events_matching(organisation, filters: dict) -> QuerySet:
    """The organisation's events, newest first, narrowed by the filters given (the API's
    and the console's names)."""
    found = AuditEvent.objects.filter(organisation=organisation)
    if action := filters.get("action"):
        found = (
            found.filter(action__startswith=action)
            if action.endswith(".")
            else found.filter(action=action)
        )
    for name in ("target_type", "target_id", "surface"):
        if value := filters.get(name):
            found = found.filter(**{name: value})
    if actor := filters.get("actor"):
        found = found.filter(actor__username=actor)
    if since := filters.get("from_date"):
        found = found.filter(created_at__gte=since)
    if until := filters.get("to_date"):
        found = found.filter(created_at__lt=until)
    return found.order_by("-created_at", "-id")
