"""The batch import/export docs' endpoints, in their shape — POST /ls/api/batch/import,
/ls/api/batch/export and /ls/api/batch/status answer the docs' job status object, and
their form fields are the docs' — with the download links they hand out; and
/v1/transfer_jobs, the same jobs in the /v1 conventions."""

from typing import cast

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import Q
from django.http import FileResponse, HttpResponseRedirect, JsonResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView
from storages.backends.s3 import S3Storage

from apps.accounts.permissions import change_role
from apps.core.api.access import Access
from apps.core.api.errors import MissingReference, error_body
from apps.core.api.inputs import as_id, as_uuid, valid
from apps.core.api.parsers import StrictJSONParser
from apps.core.api.responses import envelope, ok, page
from apps.ingestion.models import Dataset
from apps.transfers import links, selectors, services
from apps.transfers.models import TransferJob
from apps.transfers.serializers import (
    ExportRequestSerializer,
    ImportRequestSerializer,
    JobStatusSerializer,
    StatusRequestSerializer,
    TransferJobFilterSerializer,
    TransferJobSerializer,
)

# The docs' clients send forms (requests' data= and files=); scripts may send JSON.
FORMS_OR_JSON = [MultiPartParser, FormParser, StrictJSONParser]


def item_type(access: Access, name_or_id: str) -> Dataset:
    """The dataset `itemType` names, by name (first) or id, in the caller's organisations.
    One that exists only in another organisation is not found (404); one that exists
    nowhere is a bad parameter (400)."""
    pk = as_id(name_or_id)
    named = Q(name=name_or_id) | (Q(pk=pk) if pk is not None else Q(pk__in=[]))
    found = sorted(access.scoped(Dataset.objects.filter(named)), key=lambda d: d.name != name_or_id)
    by_name = [dataset for dataset in found if dataset.name == name_or_id]
    if len(by_name) > 1:
        raise ValidationError(
            {"itemType": ["Several of your organisations have a dataset so named: give its id."]}
        )
    if found:
        return found[0]
    if Dataset.objects.filter(named).exists():
        raise MissingReference("itemType", "No such dataset in your organisations.")
    raise ValidationError({"itemType": [f"No dataset is named {name_or_id[:200]!r}."]})


def _status(job: TransferJob, request) -> Response:
    job = selectors.jobs_listed().get(pk=job.pk)
    return Response(JobStatusSerializer(job, context={"request": request}).data)


def _person(request):
    return request.user if getattr(request.user, "pk", None) else None


class ImportView(APIView):
    """POST /ls/api/batch/import: a file into a dataset (itemType), as a job."""

    parser_classes = FORMS_OR_JSON

    def post(self, request):
        access = Access.of(request)
        access.require_somewhere(change_role(TransferJob))
        data = valid(ImportRequestSerializer, request.data)
        dataset = item_type(access, data["itemType"])
        access.require(dataset.organisation_id, change_role(TransferJob))
        upload = data.get("file")
        job = services.import_submit(
            dataset=dataset,
            upload=upload,
            job_name=data["jobName"],
            content_type=data.get("contentType") or getattr(upload, "content_type", "") or "",
            template=data.get("template", ""),
            merge=data["merge"],
            notification_email=data.get("notificationEmail", ""),
            user=_person(request),
        )
        return _status(job, request)


class ExportView(APIView):
    """POST /ls/api/batch/export: a dataset's records (filtered, or an SQL query's) to
    files, as a job."""

    parser_classes = FORMS_OR_JSON

    def post(self, request):
        access = Access.of(request)
        access.require_somewhere(change_role(TransferJob))
        data = valid(ExportRequestSerializer, request.data)
        dataset = item_type(access, data["itemType"])
        access.require(dataset.organisation_id, change_role(TransferJob))
        job = services.export_submit(
            dataset=dataset,
            job_name=data["jobName"],
            content_type=data["contentType"],
            row_header=data["rowHeader"],
            template=data.get("template", ""),
            sql_query=data.get("sqlQuery", ""),
            filters=data.get("filters"),
            notification_email=data.get("notificationEmail", ""),
            user=_person(request),
        )
        return _status(job, request)


class StatusView(APIView):
    """POST /ls/api/batch/status: a job's status, by its jobId."""

    parser_classes = FORMS_OR_JSON

    def post(self, request):
        job_id = valid(StatusRequestSerializer, request.data)["jobId"]
        if as_uuid(job_id) is None:
            raise ValidationError(
                {"jobId": ["Not a job id: a UUID such as e25a5d4b-f9a5-4794-9ac2-4e026c0df40d."]}
            )
        job = Access.of(request).get(selectors.jobs_listed(), job_id)
        return Response(JobStatusSerializer(job, context={"request": request}).data)


def download(request, token: str):
    """GET a completed export's file by its signed link: 404 if the link is not ours, 410
    once the job's links have expired. From object storage, a redirect to the storage's
    own presigned URL (valid until the link expires, an hour at most), so the file does
    not pass through the web process."""
    file = links.file_for(token)
    if file is None:
        return JsonResponse(error_body("No such download link.", "NOT_FOUND"), status=404)
    expires_at = file.job.links_expire_at
    if expires_at is None or expires_at <= timezone.now():
        return JsonResponse(
            error_body("This link has expired: export the data again.", "GONE"), status=410
        )
    if settings.S3_BUCKET:
        longest = settings.S3_OPTIONS["querystring_expire"]
        seconds = min(int((expires_at - timezone.now()).total_seconds()) + 1, longest)
        disposition = content_disposition_header(as_attachment=True, filename=file.name)
        url = cast(S3Storage, default_storage).url(
            file.stored, parameters={"ResponseContentDisposition": disposition}, expire=seconds
        )
        return HttpResponseRedirect(url)
    return FileResponse(selectors.export_file_stream(file), as_attachment=True, filename=file.name)


# --- /v1/transfer_jobs -----------------------------------------------------------------------


class TransferJobListView(APIView):
    @extend_schema(
        operation_id="transfer_jobs_list",
        parameters=[TransferJobFilterSerializer],
        responses=envelope(TransferJobSerializer, many=True),
    )
    def get(self, request):
        """Import and export jobs of your organisations, newest first, filtered."""
        params = valid(TransferJobFilterSerializer, request.query_params)
        found = Access.of(request).scoped(selectors.jobs_listed())
        for field in ("status", "kind"):
            if field in params:
                found = found.filter(**{field: params[field]})
        for field in ("dataset_id", "organisation_id"):
            if field in params:
                found = found.filter(**{field: as_id(params[field])})
        return page(
            found.order_by("-submitted_at", "-pk"),
            TransferJobSerializer,
            params,
            context={"request": request},
        )


class TransferJobDetailView(APIView):
    @extend_schema(responses=envelope(TransferJobSerializer))
    def get(self, request, job_id):
        job = Access.of(request).get(selectors.jobs_listed(), job_id)
        return ok(TransferJobSerializer(job, context={"request": request}).data)


class TransferJobCancelView(APIView):
    @extend_schema(request=None, responses=envelope(TransferJobSerializer))
    def post(self, request, job_id):
        """Cancel the job (editors): at once before it runs; a running job stops at its
        next chunk, changing nothing."""
        job = Access.of(request).get(selectors.jobs_listed(), job_id, change_role(TransferJob))
        services.job_cancel(job=job, user=_person(request))
        job = selectors.jobs_listed().get(pk=job.pk)
        return ok(TransferJobSerializer(job, context={"request": request}).data)
