"""/v1/integration_batch_instances, their executions, and executions across instances."""

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.views import APIView

from apps.accounts.models import Role
from apps.accounts.permissions import change_role
from apps.core.api.access import Access
from apps.core.api.errors import MissingReference, api_field_names
from apps.core.api.inputs import as_id, by_id, refuse_changes, valid
from apps.core.api.responses import PageParameters, envelope, ok, page
from apps.core.errors import TransitionError
from apps.plugins.models import PluginVersion
from apps.runner.logs import log_size, read_log
from apps.runner.services import (
    backfill_cancel,
    backfill_create,
    backfill_plan,
    execution_cancel,
    execution_create_manual,
    execution_repeat,
)
from apps.scheduling import selectors
from apps.scheduling.models import Backfill, Execution, IntegrationBatchInstance
from apps.scheduling.serializers import (
    BackfillCreateSerializer,
    BackfillPlanSerializer,
    BackfillSerializer,
    ExecutionCreateSerializer,
    ExecutionFilterSerializer,
    ExecutionSerializer,
    ExecutionUpdateSerializer,
    InstanceFilterSerializer,
    InstanceSerializer,
    InstanceWriteSerializer,
    LogParametersSerializer,
    LogSerializer,
)
from apps.scheduling.services import (
    EDITABLE_INSTANCE_FIELDS,
    instance_archive,
    instance_create,
    instance_update,
)

VERSION_FIELDS = ("group_id", "artifact_id", "version_id", "plugin_version_id")

# --- Instances -----------------------------------------------------------------------------


class InstanceListView(APIView):
    @extend_schema(
        operation_id="integration_batch_instances_list",
        parameters=[InstanceFilterSerializer],
        responses=envelope(InstanceSerializer, many=True),
    )
    def get(self, request):
        """Integration batch instances of your organisations, filtered."""
        access = Access.of(request)
        params = valid(InstanceFilterSerializer, request.query_params)
        found = access.scoped(selectors.instances_with_properties())
        if "organisation_id" in params:
            found = found.filter(organisation_id=as_id(params["organisation_id"]))
        if "plugin_version_id" in params:
            found = found.filter(version_id=as_id(params["plugin_version_id"]))
        if "version_id" in params:
            found = found.filter(version__version_id=params["version_id"])
        if "cron_status" in params:
            found = found.filter(cron_status=params["cron_status"])
        if "archived" in params:
            found = found.filter(archived=params["archived"])
        return page(found, InstanceSerializer, params)

    @extend_schema(request=InstanceWriteSerializer, responses={201: envelope(InstanceSerializer)})
    def post(self, request):
        """Create an instance of an INTEGRATION_BATCH version (editors). With a cron and
        cron_status ACTIVE, its first run is scheduled at once."""
        access = Access.of(request)
        access.require_somewhere(change_role(IntegrationBatchInstance))
        data = valid(InstanceWriteSerializer, request.data)
        organisation = access.organisation_for_new(
            IntegrationBatchInstance, data.get("organisation_id")
        )
        version = resolve_version(access, data, organisation.pk)
        if version is None:
            raise ValidationError(
                {
                    "version_id": [
                        "Name the version: group_id, artifact_id and version_id, "
                        "or plugin_version_id."
                    ]
                }
            )
        if data.get("archived"):
            raise ValidationError(
                {"archived": ["An instance is created unarchived; DELETE archives it."]}
            )
        defaults = {prop.technical_name: prop.value for prop in version.properties.all()}
        with api_field_names(version="plugin_version_id"):
            instance = instance_create(
                organisation=organisation,
                version=version,
                user=request.user,
                **instance_changes(data, current_values=defaults),
            )
        return ok(
            InstanceSerializer(selectors.instances_with_properties().get(pk=instance.pk)).data,
            status=201,
        )


class InstanceDetailView(APIView):
    @extend_schema(responses=envelope(InstanceSerializer))
    def get(self, request, instance_id):
        return ok(
            InstanceSerializer(
                Access.of(request).get(selectors.instances_with_properties(), instance_id)
            ).data
        )

    @extend_schema(
        request=InstanceWriteSerializer(partial=True), responses=envelope(InstanceSerializer)
    )
    def put(self, request, instance_id):
        """Change an instance (editors): the fields sent change. cron_status PAUSED pauses
        it (its coming CRON runs are canceled), ACTIVE resumes it; archived true archives it."""
        access = Access.of(request)
        instance = access.get(
            selectors.instances_with_properties(),
            instance_id,
            change_role(IntegrationBatchInstance),
        )
        data = valid(InstanceWriteSerializer, request.data, partial=True)
        refuse_changes(data, {"organisation_id": instance.organisation_id}, ["organisation_id"])
        archive = data.get("archived")
        if archive is False and instance.archived:
            raise TransitionError("An archived instance stays archived.", code="archived")
        current = InstanceSerializer(instance).data["properties"]
        changes = instance_changes(
            data, current_values={p["technical_name"]: p["value"] for p in current}
        )
        version = resolve_version(access, data, instance.organisation_id)
        if version is not None and version.pk != instance.version_id:
            changes["version"] = version
        if changes and not (instance.archived and archive):
            with api_field_names(version="plugin_version_id"):
                instance_update(instance=instance, user=request.user, **changes)
        if archive and not instance.archived:
            instance_archive(instance=instance, user=request.user)
        return ok(
            InstanceSerializer(selectors.instances_with_properties().get(pk=instance.pk)).data
        )

    @extend_schema(responses={200: envelope(InstanceSerializer)})
    def delete(self, request, instance_id):
        """Archive the instance (editors): it never runs again and its pending executions
        are canceled; it and its history stay readable."""
        instance = Access.of(request).get(
            selectors.instances_with_properties(),
            instance_id,
            change_role(IntegrationBatchInstance),
        )
        instance_archive(instance=instance, user=request.user)
        return ok(
            InstanceSerializer(selectors.instances_with_properties().get(pk=instance.pk)).data
        )


def resolve_version(access: Access, data: dict, organisation_id: int) -> PluginVersion | None:
    """The version a request names, within the organisation; None if it names none."""
    if not any(field in data for field in VERSION_FIELDS):
        return None
    versions = PluginVersion.objects.filter(plugin__organisation_id=organisation_id)
    if "plugin_version_id" in data:
        version, field = (
            by_id(versions, data["plugin_version_id"]).first(),
            "plugin_version_id",
        )
    elif "group_id" in data or "artifact_id" in data:
        version = versions.filter(
            plugin__group_id=data.get("group_id"),
            plugin__artifact_id=data.get("artifact_id"),
            version_id=data.get("version_id"),
        ).first()
        field = "version_id"
    else:
        version, field = by_id(versions, data["version_id"]).first(), "version_id"
    if version is None:
        raise MissingReference(field, "No such plugin version in this organisation.")
    return version


def instance_changes(data: dict, *, current_values: dict) -> dict:
    """The editable settings a request sends, as the services take them. Property values
    sent as they already are (as a GET shows them) are not overrides to set."""
    changes = {
        field: data[field]
        for field in EDITABLE_INSTANCE_FIELDS
        if field in data and field != "version"
    }
    if "cron" in changes:
        changes["cron"] = changes["cron"] or ""
    properties = {
        sent["technical_name"]: sent["value"]
        for sent in data.get("properties", [])
        if sent["technical_name"] not in current_values
        or sent["value"] != current_values[sent["technical_name"]]
    }
    if properties:
        changes["properties"] = properties
    return changes


# --- Executions ----------------------------------------------------------------------------


# Query parameter → its lookup (the parameters are checked: ids are digits, statuses known).
EXECUTION_FILTERS = {
    "organisation_id": "organisation_id",
    "instance_id": "instance_id",
    "status": "status",
    "execution_type": "execution_type",
    "backfill_id": "backfill_id",
    "from_date": "expected_start_date__gte",
    "to_date": "expected_start_date__lt",
}


def filtered_executions(queryset, params: dict):
    lookups = {lookup: params[name] for name, lookup in EXECUTION_FILTERS.items() if name in params}
    ordering = params["order_by"].replace("creation_date", "created_at")
    tie_breaker = "-pk" if ordering.startswith("-") else "pk"
    return queryset.filter(**lookups).order_by(ordering, tie_breaker)


def get_execution(
    request, execution_id, minimum: Role = Role.READER, instance_id=None
) -> Execution:
    queryset = selectors.executions_with_instance()
    if instance_id is not None:
        queryset = by_id(queryset, instance_id, "instance_id")
    return Access.of(request).get(queryset, execution_id, minimum)


class InstanceExecutionListView(APIView):
    @extend_schema(
        operation_id="integration_batch_instances_executions_list",
        parameters=[ExecutionFilterSerializer],
        responses=envelope(ExecutionSerializer, many=True),
    )
    def get(self, request, instance_id):
        """The instance's executions, newest first by default."""
        instance = Access.of(request).get(IntegrationBatchInstance.objects.all(), instance_id)
        params = valid(ExecutionFilterSerializer, request.query_params)
        return page(
            filtered_executions(
                selectors.executions_with_instance().filter(instance=instance), params
            ),
            ExecutionSerializer,
            params,
        )

    @extend_schema(
        request=ExecutionCreateSerializer, responses={201: envelope(ExecutionSerializer)}
    )
    def post(self, request, instance_id):
        """Run the instance by hand (editors): now, or at expected_start_date."""
        instance = Access.of(request).get(
            IntegrationBatchInstance.objects.all(), instance_id, change_role(Execution)
        )
        data = valid(ExecutionCreateSerializer, request.data)
        execution = execution_create_manual(
            instance=instance,
            user=request.user,
            expected_start_date=data.get("expected_start_date"),
            parameters=data["parameters"],
        )
        return ok(
            ExecutionSerializer(selectors.executions_with_instance().get(pk=execution.pk)).data,
            status=201,
        )


class InstanceExecutionDetailView(APIView):
    @extend_schema(responses=envelope(ExecutionSerializer))
    def get(self, request, instance_id, execution_id):
        return ok(
            ExecutionSerializer(get_execution(request, execution_id, instance_id=instance_id)).data
        )

    @extend_schema(request=ExecutionUpdateSerializer, responses=envelope(ExecutionSerializer))
    def put(self, request, instance_id, execution_id):
        """Cancel the execution with {"status": "CANCELED"} (editors): at once if PENDING;
        a RUNNING one is stopped, then ends CANCELED."""
        execution = get_execution(
            request, execution_id, change_role(Execution), instance_id=instance_id
        )
        valid(ExecutionUpdateSerializer, request.data)
        return ok(
            ExecutionSerializer(execution_cancel(execution=execution, user=request.user)).data
        )

    @extend_schema(responses={200: envelope(ExecutionSerializer)})
    def delete(self, request, instance_id, execution_id):
        """Cancel the execution (editors); its record stays."""
        execution = get_execution(
            request, execution_id, change_role(Execution), instance_id=instance_id
        )
        return ok(
            ExecutionSerializer(execution_cancel(execution=execution, user=request.user)).data
        )


class ExecutionListView(APIView):
    @extend_schema(
        operation_id="executions_list",
        parameters=[ExecutionFilterSerializer],
        responses=envelope(ExecutionSerializer, many=True),
    )
    def get(self, request):
        """Executions across your organisations' instances, filtered and ordered."""
        access = Access.of(request)
        params = valid(ExecutionFilterSerializer, request.query_params)
        return page(
            filtered_executions(access.scoped(selectors.executions_with_instance()), params),
            ExecutionSerializer,
            params,
        )


class ExecutionDetailView(APIView):
    @extend_schema(responses=envelope(ExecutionSerializer))
    def get(self, request, execution_id):
        return ok(ExecutionSerializer(get_execution(request, execution_id)).data)


class ExecutionCancelView(APIView):
    @extend_schema(request=None, responses=envelope(ExecutionSerializer))
    def post(self, request, execution_id):
        """Cancel the execution (editors)."""
        execution = get_execution(request, execution_id, change_role(Execution))
        return ok(
            ExecutionSerializer(execution_cancel(execution=execution, user=request.user)).data
        )


class ExecutionRepeatView(APIView):
    @extend_schema(request=None, responses={201: envelope(ExecutionSerializer)})
    def post(self, request, execution_id):
        """Run a finished execution again, now, with its parameters (editors): a re-run, or
        a retry of a failed one. The new MANUAL run's repeats_id names this one."""
        execution = get_execution(request, execution_id, change_role(Execution))
        repeated = execution_repeat(execution=execution, user=request.user)
        return ok(
            ExecutionSerializer(selectors.executions_with_instance().get(pk=repeated.pk)).data,
            status=201,
        )


class ExecutionLogView(APIView):
    @extend_schema(parameters=[LogParametersSerializer], responses=envelope(LogSerializer))
    def get(self, request, execution_id):
        """The execution's log from `offset` on: ask again from `next_offset` to follow a
        running execution; `complete` says it has ended and nothing follows."""
        execution = get_execution(request, execution_id)
        params = valid(LogParametersSerializer, request.query_params)
        piece = read_log(execution.pk, offset=params["offset"], limit=params["limit"])
        complete = execution.is_terminal and piece.next_offset >= log_size(execution.pk)
        return ok(
            {
                "text": piece.text,
                "offset": piece.offset,
                "next_offset": piece.next_offset,
                "complete": complete,
            }
        )


# --- Backfills -----------------------------------------------------------------------------


class BackfillListView(APIView):
    @extend_schema(
        operation_id="integration_batch_instances_backfills_list",
        parameters=[PageParameters],
        responses=envelope(BackfillSerializer, many=True),
    )
    def get(self, request, instance_id):
        """The instance's backfills, newest first, with their runs by status."""
        instance = Access.of(request).get(IntegrationBatchInstance.objects.all(), instance_id)
        params = valid(PageParameters, request.query_params)
        found = selectors.backfills_with_progress().filter(instance=instance)
        return page(found.order_by("-created_at", "-pk"), BackfillSerializer, params)

    @extend_schema(
        request=BackfillCreateSerializer,
        responses={201: envelope(BackfillSerializer), 200: envelope(BackfillPlanSerializer)},
    )
    def post(self, request, instance_id):
        """Run the instance once for every past fire time of its cron from start_date to
        end_date (editors), in order under its concurrency policy (FORBID: one at a time).
        With dry_run, only say what it would create (200); else create it (201)."""
        instance = Access.of(request).get(
            IntegrationBatchInstance.objects.all(), instance_id, change_role(Backfill)
        )
        data = valid(BackfillCreateSerializer, request.data)
        asked = {key: data[key] for key in ("start_date", "end_date", "only_missing", "parameters")}
        if data["dry_run"]:
            return ok(BackfillPlanSerializer(backfill_plan(instance=instance, **asked)).data)
        backfill = backfill_create(instance=instance, user=request.user, **asked)
        return ok(
            BackfillSerializer(selectors.backfills_with_progress().get(pk=backfill.pk)).data,
            status=201,
        )


def get_backfill(request, instance_id, backfill_id, minimum: Role = Role.READER):
    backfills = by_id(selectors.backfills_with_progress(), instance_id, "instance_id")
    return Access.of(request).get(backfills, backfill_id, minimum)


class BackfillDetailView(APIView):
    @extend_schema(responses=envelope(BackfillSerializer))
    def get(self, request, instance_id, backfill_id):
        return ok(BackfillSerializer(get_backfill(request, instance_id, backfill_id)).data)


class BackfillCancelView(APIView):
    @extend_schema(request=None, responses=envelope(BackfillSerializer))
    def post(self, request, instance_id, backfill_id):
        """Cancel the backfill's runs that have not started (editors); running ones go on."""
        backfill = get_backfill(request, instance_id, backfill_id, change_role(Backfill))
        backfill_cancel(backfill=backfill, user=request.user)
        return ok(BackfillSerializer(selectors.backfills_with_progress().get(pk=backfill.pk)).data)
