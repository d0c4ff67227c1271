"""/v1/datasets, and batch ingestion as its docs describe it: /v1/batches, their files
(small uploads, or chunks with Content-Range), COMPLETE / ABORT, and /v1/batch/{id}."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import Role
from apps.accounts.permissions import change_role
from apps.core.api.access import Access
from apps.core.api.authentication import ApiTokenAuthentication, ExecutionCredentialAuthentication
from apps.core.api.errors import MissingReference, error_body
from apps.core.api.inputs import as_id, refuse_changes, valid
from apps.core.api.responses import envelope, ok, page
from apps.core.api.throttles import BatchCreationThrottle, CallerRateThrottle
from apps.ingestion import selectors, services
from apps.ingestion.models import Batch, BatchFile, Dataset
from apps.ingestion.serializers import (
    BatchActionSerializer,
    BatchCreateSerializer,
    BatchFilterSerializer,
    BatchSerializer,
    DatasetFilterSerializer,
    DatasetSerializer,
    DatasetWriteSerializer,
    FileActionSerializer,
    PreviewSerializer,
)
from apps.ingestion.storage import TooLarge

# Plugin code sends its execution's credential; people their token or session.
INGESTION_AUTHENTICATION = [
    ExecutionCredentialAuthentication,
    ApiTokenAuthentication,
    SessionAuthentication,
]

# --- Datasets ------------------------------------------------------------------------------


class DatasetListView(APIView):
    @extend_schema(
        operation_id="datasets_list",
        parameters=[DatasetFilterSerializer],
        responses=envelope(DatasetSerializer, many=True),
    )
    def get(self, request):
        access = Access.of(request)
        params = valid(DatasetFilterSerializer, request.query_params)
        found = access.scoped(selectors.datasets_listed())
        if "organisation_id" in params:
            found = found.filter(organisation_id=as_id(params["organisation_id"]))
        return page(found, DatasetSerializer, params)

    @extend_schema(request=DatasetWriteSerializer, responses={201: envelope(DatasetSerializer)})
    def post(self, request):
        """Create a dataset and its schema (editors)."""
        access = Access.of(request)
        access.require_somewhere(change_role(Dataset))
        data = valid(DatasetWriteSerializer, request.data)
        organisation = access.organisation_for_new(Dataset, data.get("organisation_id"))
        dataset = services.dataset_create(
            organisation=organisation,
            name=data["name"],
            schema=data["schema"],
            description=data.get("description", ""),
        )
        return ok(
            DatasetSerializer(selectors.datasets_listed().get(pk=dataset.pk)).data, status=201
        )


class DatasetDetailView(APIView):
    @extend_schema(responses=envelope(DatasetSerializer))
    def get(self, request, dataset_id):
        return ok(
            DatasetSerializer(Access.of(request).get(selectors.datasets_listed(), dataset_id)).data
        )

    @extend_schema(
        request=DatasetWriteSerializer(partial=True), responses=envelope(DatasetSerializer)
    )
    def put(self, request, dataset_id):
        """Rename, describe or change the schema (editors): a change that the data already
        stored would not fit is refused."""
        dataset = Access.of(request).get(
            selectors.datasets_listed(), dataset_id, change_role(Dataset)
        )
        data = valid(DatasetWriteSerializer, request.data, partial=True)
        refuse_changes(data, {"organisation_id": dataset.organisation_id}, ["organisation_id"])
        changes = {key: data[key] for key in ("name", "description", "schema") if key in data}
        services.dataset_update(dataset=dataset, **changes)
        return ok(DatasetSerializer(selectors.datasets_listed().get(pk=dataset.pk)).data)

    @extend_schema(responses={200: envelope(DatasetSerializer)})
    def delete(self, request, dataset_id):
        """Delete a dataset without batches (editors)."""
        dataset = Access.of(request).get(
            selectors.datasets_listed(), dataset_id, change_role(Dataset)
        )
        deleted = DatasetSerializer(dataset).data
        services.dataset_delete(dataset=dataset)
        return ok(deleted)


class DatasetPreviewView(APIView):
    @extend_schema(responses=envelope(PreviewSerializer))
    def get(self, request, dataset_id):
        """The dataset's first rows, as stored."""
        dataset = Access.of(request).get(Dataset.objects.all(), dataset_id)
        columns, rows = selectors.dataset_preview(dataset)
        return ok({"columns": columns, "rows": rows})


# --- Batches -------------------------------------------------------------------------------


def get_batch(request, batch_id, minimum: Role = Role.READER) -> Batch:
    return Access.of(request).get(selectors.batches_with_files(), batch_id, minimum)


class BatchListView(APIView):
    authentication_classes = INGESTION_AUTHENTICATION
    throttle_classes = [CallerRateThrottle, BatchCreationThrottle]

    @extend_schema(
        operation_id="batches_list",
        parameters=[BatchFilterSerializer],
        responses=envelope(BatchSerializer, many=True),
    )
    def get(self, request):
        """Batches of your organisations, newest first, filtered."""
        params = valid(BatchFilterSerializer, request.query_params)
        found = Access.of(request).scoped(selectors.batches_with_files())
        if "status" in params:
            found = found.filter(status=params["status"])
        for field in ("dataset_id", "execution_id", "organisation_id"):
            if field in params:
                found = found.filter(**{field: as_id(params[field])})
        return page(found.order_by("-created_at", "-pk"), BatchSerializer, params)

    @extend_schema(request=BatchCreateSerializer, responses={201: BatchSerializer})
    def post(self, request):
        """Create a batch for a dataset; it is Loading until COMPLETE."""
        access = Access.of(request)
        access.require_somewhere(change_role(Batch))
        data = valid(BatchCreateSerializer, request.data)
        dataset = access.scoped(Dataset.objects.filter(pk=as_id(data["datasetId"]))).first()
        if dataset is None:
            raise MissingReference("datasetId", "No such dataset in your organisations.")
        access.require(dataset.organisation_id, change_role(Batch))
        execution = getattr(request.auth, "execution", None)
        batch = services.batch_create(
            dataset=dataset,
            user=_person(request),
            execution=execution,
            input_format=data.get("inputFormat", {}).get("format", ""),
            external_id=data.get("externalId", ""),
            tags=data.get("tags"),
            created_client="plugin" if execution else "api",
        )
        return Response(
            BatchSerializer(selectors.batches_with_files().get(pk=batch.pk)).data, status=201
        )


class BatchView(APIView):
    authentication_classes = INGESTION_AUTHENTICATION

    @extend_schema(responses=BatchSerializer)
    def get(self, request, batch_id):
        return Response(BatchSerializer(get_batch(request, batch_id)).data)

    @extend_schema(
        operation_id="batches_action",
        parameters=[
            OpenApiParameter("action", str, enum=["COMPLETE", "ABORT", "REVERT"], required=True)
        ],
        request=None,
        responses={200: None},
    )
    def post(self, request, batch_id):
        """?action=COMPLETE: the files are all there, process them. ?action=ABORT: drop
        the batch while it is loading. ?action=REVERT: take an Active batch's rows out."""
        batch = get_batch(request, batch_id, change_role(Batch))
        action = valid(BatchActionSerializer, request.query_params)["action"]
        service = {
            "COMPLETE": services.batch_complete,
            "ABORT": services.batch_abort,
            "REVERT": services.batch_revert,
        }[action]
        service(batch=batch, user=_person(request))
        return Response(status=200)

    @extend_schema(responses={200: BatchSerializer})
    def delete(self, request, batch_id):
        """Remove the batch's data; it stays listed, Deleted."""
        batch = get_batch(request, batch_id, change_role(Batch))
        services.batch_delete(batch=batch, user=_person(request))
        return Response(BatchSerializer(get_batch(request, batch_id)).data)


class BatchCatalogView(APIView):
    """GET /batch/{id}, as the docs' status check: the batch keyed by its id."""

    authentication_classes = INGESTION_AUTHENTICATION

    @extend_schema(
        responses={
            200: {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Batch"}}
        }
    )
    def get(self, request, batch_id):
        batch = get_batch(request, batch_id)
        return Response({str(batch.pk): BatchSerializer(batch).data})


class BatchFileView(APIView):
    """A file of a batch. The body is the file's bytes (Content-Type
    application/octet-stream), read as it streams in."""

    authentication_classes = INGESTION_AUTHENTICATION
    parser_classes = []  # the body is never parsed: it is streamed to storage

    def _batch(self, request, batch_id, dataset_id) -> Batch:
        batch = get_batch(request, batch_id, change_role(Batch))
        if as_id(dataset_id) != batch.dataset_id:
            raise NotFound("This batch loads another dataset.")
        return batch

    @extend_schema(request={"application/octet-stream": bytes}, responses={200: None})
    def put(self, request, batch_id, dataset_id, name):
        """Upload a whole file (at most 512 MB): it replaces one of the same name."""
        batch = self._batch(request, batch_id, dataset_id)
        return _stored(
            lambda: services.batch_file_put(
                batch=batch, name=name, body=request._request, user=_person(request)
            )
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("action", str, enum=["initialize", "COMPLETE"], required=True)
        ],
        request=None,
        responses={200: None, 201: None},
    )
    def post(self, request, batch_id, dataset_id, name):
        """?action=initialize starts a file sent in chunks; ?action=COMPLETE joins them."""
        batch = self._batch(request, batch_id, dataset_id)
        action = valid(FileActionSerializer, request.query_params)["action"]
        if action == "initialize":
            services.batch_file_initialize(batch=batch, name=name, user=_person(request))
            return Response(status=201)
        services.batch_file_complete(batch_file=_file(batch, name))
        return Response(status=200)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "Content-Range",
                str,
                OpenApiParameter.HEADER,
                required=True,
                description="bytes START-END/TOTAL (TOTAL may be *)",
            )
        ],
        request={"application/octet-stream": bytes},
        responses={200: None},
    )
    def patch(self, request, batch_id, dataset_id, name):
        """One chunk of a file initialized before: bytes START-END, in order."""
        batch_file = _file(self._batch(request, batch_id, dataset_id), name)
        return _stored(
            lambda: services.batch_file_chunk(
                batch_file=batch_file,
                content_range=request.headers.get("Content-Range", ""),
                body=request._request,
            )
        )


def _file(batch: Batch, name: str) -> BatchFile:
    batch_file = batch.files.filter(name=name).first()
    if batch_file is None:
        raise NotFound(f"The batch has no file {name!r}: initialize it first.")
    return batch_file


def _stored(upload) -> Response:
    """Run an upload; too many bytes answer 413."""
    try:
        upload()
    except TooLarge as error:
        return Response(error_body(str(error), "PAYLOAD_TOO_LARGE"), status=413)
    return Response(status=200)


def _person(request):
    """The person behind a request, if it is one (not plugin code run by the scheduler)."""
    return request.user if getattr(request.user, "pk", None) else None
