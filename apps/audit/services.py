"""Recording what changed. Only services call record(), inside their own transaction, so
an entry exists exactly when its change does. Nothing updates or deletes entries."""

from apps.audit import context
from apps.audit.models import AuditEvent
from apps.core.models import OrganisationOwned

SECRET_SET, SECRET_CLEARED = "(secret set)", "(secret cleared)"


def record(
    action: str,
    target: OrganisationOwned,
    *,
    organisation_id: int | None = None,
    changes: dict | None = None,
    user=None,
    name: str | None = None,
) -> AuditEvent:
    """Record `action` (like "instance.paused") on `target` by whoever acts now."""
    actor = context.current(user)
    organisation_id = organisation_id or target.owner_organisation_id
    if organisation_id is None:
        raise ValueError(f"{target!r} belongs to no organisation: nothing to record it in.")
    return AuditEvent.objects.create(
        organisation_id=organisation_id,
        actor=actor.user,
        actor_name=actor.name[:300],
        surface=actor.surface,
        action=action,
        target_type=target._meta.model_name or "",
        target_id=str(target.pk),
        target_name=(name if name is not None else str(target))[:300],
        changes=changes or {},
    )


def changes_between(before: dict, after: dict) -> dict:
    """{field: [before, after]} for the fields whose value changed."""
    return {
        name: [_plain(before.get(name)), _plain(value)]
        for name, value in after.items()
        if before.get(name) != value
    }


def snapshot(obj, fields) -> dict:
    return {name: getattr(obj, name) for name in fields}


def _plain(value):
    if isinstance(value, str | int | float | bool | type(None) | list | dict):
        return value
    return str(value)
