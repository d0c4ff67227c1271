"""Who may do what, declared once: the role each kind of object needs to be seen and to be
changed in an organisation. The API, the console and the admin all ask here, so a rule
cannot differ between them (a table-driven test holds every surface to it)."""

from django.db.models import Model

from apps.accounts.models import Role

# Changing (creating, editing, deleting, and the state changes: pause, run, cancel,
# complete…) an object of each kind.
CHANGE_ROLES: dict[str, Role] = {
    "accounts.organisation": Role.ADMIN,
    "accounts.membership": Role.ADMIN,
    "accounts.apitoken": Role.ADMIN,
    "plugins.plugin": Role.EDITOR,
    "plugins.pluginversion": Role.EDITOR,  # publishing one's code included
    "plugins.pluginproperty": Role.EDITOR,
    "plugins.batchingconfiguration": Role.EDITOR,
    "scheduling.integrationbatchinstance": Role.EDITOR,
    "scheduling.instanceproperty": Role.EDITOR,
    "scheduling.execution": Role.EDITOR,
    "scheduling.backfill": Role.EDITOR,  # asking for one creates runs, canceling it ends them
    "ingestion.dataset": Role.EDITOR,
    "ingestion.batch": Role.EDITOR,
    # Submitting an import or an export, and canceling one.
    "transfers.transferjob": Role.EDITOR,
    # Creating, changing, pausing a feed; sending it updates, replaying its batches.
    "feeds.audiencesegmentexternalfeed": Role.EDITOR,
    "feeds.feedbatch": Role.EDITOR,  # replaying one
    "feeds.usersegmentupdate": Role.EDITOR,  # sending one
    # Where alerts go (addresses, URLs and their signing secrets): the organisation's.
    "alerts.alertchannel": Role.ADMIN,
    "alerts.alertrule": Role.EDITOR,
    "alerts.alert": Role.ADMIN,  # sending a channel a test alert
    "alerts.deliveryattempt": Role.ADMIN,  # made by the workers only
    "audit.auditevent": Role.ADMIN,  # written by the services only, never changed
    "scheduling.cleanup": Role.ADMIN,  # what retention removed: the settings are admins'
}
# Seeing them: every member, except what only admins may see.
VIEW_ROLES: dict[str, Role] = {"accounts.apitoken": Role.ADMIN, "audit.auditevent": Role.ADMIN}


def change_role(model: type[Model]) -> Role:
    return CHANGE_ROLES[model._meta.label_lower]


def view_role(model: type[Model]) -> Role:
    return VIEW_ROLES.get(model._meta.label_lower, Role.READER)
