"""The console's import and export jobs: the Jobs list (running rows follow their
progress), a job's page, and the import and export forms (the export's with a preview of
its first rows, or its query's error, before it is submitted)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from apps.accounts.permissions import change_role
from apps.core.console import console_view, filtered_page, render_list
from apps.core.errors import TransitionError
from apps.core.text import parse_int
from apps.transfers import exports, links, selectors, services
from apps.transfers.forms import ExportForm, ImportForm, JobFilterForm, show_service_errors
from apps.transfers.models import TransferJob
from apps.transfers.sql import QueryRefused


def _job_for(ws, pk) -> TransferJob:
    job = selectors.job_detail(ws.organisation, pk)
    if job is None:
        raise Http404("No such job in this organisation.")
    return job


def _chosen_dataset(request) -> dict:
    """The dataset a dataset's page links the form with (?dataset=id)."""
    chosen = parse_int(request.GET.get("dataset", ""))
    return {"dataset": chosen} if chosen else {}


def _following(job: TransferJob, response):
    """A polled partial: polling stops once the job has ended."""
    return HttpResponseStopPolling(response.content) if job.is_ended else response


@require_GET
@console_view()
def job_list(request, ws):
    form = JobFilterForm(request.GET or None, organisation=ws.organisation)
    cursor = request.GET.get("before", "")
    page = filtered_page(
        form, lambda filters: selectors.jobs_page(ws.organisation, filters, cursor)
    )
    return render_list(
        request,
        "transfers/job_list.html",
        {
            "section": "jobs",
            "form": form,
            "page": page,
            "live": any(not job.is_ended for job in page.rows),
        },
    )


@require_GET
@console_view()
def job_detail(request, ws, pk):
    job = _job_for(ws, pk)
    context = {
        "section": "jobs",
        "job": job,
        "downloads": [(file, links.url_for(file, request)) for file in job.files.all()],
    }
    if request.htmx and request.htmx.target == f"job-{pk}":
        return _following(job, render(request, "transfers/job_detail.html#summary", context))
    return render(request, "transfers/job_detail.html", context)


@require_POST
@console_view(change_role(TransferJob))
def job_cancel(request, ws, pk):
    job = _job_for(ws, pk)
    try:
        job = services.job_cancel(job=job, user=request.user)
    except TransitionError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(request, f"Job {job.job_name}: {job.reason}")
    return redirect("job", job.pk)


@require_http_methods(["GET", "POST"])
@console_view(change_role(TransferJob))
def job_import(request, ws):
    form = ImportForm(
        request.POST or None,
        request.FILES or None,
        initial=_chosen_dataset(request),
        organisation=ws.organisation,
    )
    if request.method == "POST" and form.is_valid():
        data, upload = form.cleaned_data, form.cleaned_data["file"]
        try:
            job = services.import_submit(
                dataset=data["dataset"],
                upload=upload,
                job_name=data["job_name"],
                content_type=form.content_type_for(upload),
                template=data["template"],
                merge=data["merge"],
                notification_email=data["notification_email"],
                user=request.user,
            )
        except ValidationError as refusal:
            show_service_errors(form, refusal.message_dict)
        else:
            return redirect("job", job.pk)
    return render(request, "transfers/job_import.html", {"section": "jobs", "form": form})


@require_http_methods(["GET", "POST"])
@console_view(change_role(TransferJob))
def job_export(request, ws):
    form = ExportForm(
        request.POST or None, initial=_chosen_dataset(request), organisation=ws.organisation
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job = services.export_submit(
                dataset=data["dataset"],
                job_name=data["job_name"],
                content_type=data["content_type"],
                row_header=data["row_header"],
                template=data["template"],
                sql_query=data["sql_query"],
                filters=data["filters"],
                notification_email=data["notification_email"],
                user=request.user,
            )
        except ValidationError as refusal:
            show_service_errors(form, refusal.message_dict)
        else:
            return redirect("job", job.pk)
    return render(request, "transfers/job_export.html", {"section": "jobs", "form": form})


@require_POST
@console_view()
def export_preview(request, ws):
    """The export form's first rows (or why its query or filters cannot run): a partial."""
    form = ExportForm(request.POST, organisation=ws.organisation)
    form.is_valid()  # only the dataset, query and filters matter here
    data, context = form.cleaned_data, {}
    if not data.get("dataset"):
        context["problem"] = "Choose a dataset."
    else:
        try:
            context["columns"], context["rows"] = exports.preview(
                data["dataset"], data.get("sql_query", ""), data.get("filters", "")
            )
        except QueryRefused as refusal:
            context["problem"] = f"The SQL query cannot run: {refusal}"
        except ValidationError as refusal:
            context["problem"] = "; ".join(
                f"{field}: {' '.join(reasons)}" for field, reasons in refusal.message_dict.items()
            )
    return render(request, "transfers/job_export.html#preview", context)
