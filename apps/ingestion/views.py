"""The console's datasets and the batch status browser."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from apps.accounts.permissions import change_role
from apps.core.console import (
    added_formset_row,
    console_view,
    filtered_page,
    render_list,
    show_refusal,
)
from apps.core.errors import TransitionError
from apps.ingestion import selectors, services
from apps.ingestion.forms import (
    BatchFilterForm,
    DatasetForm,
    SchemaFormSet,
    schema_of,
    show_schema_errors,
)
from apps.ingestion.models import Batch, BatchStatus, Dataset

# A batch in any other status still changes (files arrive, workers stage it): its page
# follows it until it reaches one of these.
ENDED = {
    BatchStatus.ACTIVE,
    BatchStatus.FAILED,
    BatchStatus.ABANDONED,
    BatchStatus.ABORTED,
    BatchStatus.INACTIVE,
    BatchStatus.DELETED,
}
ACTIONS = {
    "abort": (services.batch_abort, "aborted"),
    "revert": (services.batch_revert, "reverted: its rows no longer count in the dataset"),
    "delete": (services.batch_delete, "deleted: its data is removed"),
}


def _dataset_for(ws, pk) -> Dataset:
    return get_object_or_404(
        selectors.datasets_with_counts(Dataset.objects.all()), pk=pk, organisation=ws.organisation
    )


def _batch_for(ws, pk) -> Batch:
    return get_object_or_404(selectors.batches_with_files(), pk=pk, organisation=ws.organisation)


@require_GET
@console_view()
def dataset_list(request, ws):
    found = selectors.datasets_with_counts(
        Dataset.objects.filter(organisation=ws.organisation)
    ).order_by("name")
    return render(
        request, "ingestion/dataset_list.html", {"section": "datasets", "datasets": found}
    )


@require_GET
@console_view()
def dataset_detail(request, ws, pk):
    dataset = _dataset_for(ws, pk)
    columns, rows = selectors.dataset_preview(dataset)
    return render(
        request,
        "ingestion/dataset_detail.html",
        {
            "section": "datasets",
            "dataset": dataset,
            "columns": columns,
            "rows": rows,
            "batches": dataset.batches.order_by("-created_at", "-pk")[:10],
        },
    )


@require_http_methods(["GET", "POST"])
@console_view(change_role(Dataset))
def dataset_edit(request, ws, pk=None):
    """Create a dataset, or change one: a schema change its stored data would not fit is
    refused, and says why."""
    dataset = _dataset_for(ws, pk) if pk else None
    initial = {"name": dataset.name, "description": dataset.description} if dataset else None
    form = DatasetForm(request.POST or None, initial=initial)
    fields = SchemaFormSet(
        request.POST or None, prefix="fields", initial=dataset.schema if dataset else None
    )
    if request.method == "POST" and form.is_valid() and fields.is_valid():
        values = {**form.cleaned_data, "schema": schema_of(fields)}
        try:
            if dataset:
                services.dataset_update(dataset=dataset, **values)
            else:
                dataset = services.dataset_create(organisation=ws.organisation, **values)
        except ValidationError as refusal:
            errors = refusal.message_dict
            show_schema_errors(errors.pop("schema", []), form, fields)
            show_refusal(form, errors)
        else:
            messages.success(request, f"Dataset {dataset.name} saved.")
            return redirect("dataset", dataset.pk)
    return render(
        request,
        "ingestion/dataset_form.html",
        {
            "section": "datasets",
            "form": form,
            "fields": fields,
            "dataset": dataset,
        },
    )


@require_GET
@console_view(change_role(Dataset))
def schema_row(request, ws):
    """One more schema field row (and the formset's new row count)."""
    row, next_index = added_formset_row(request, SchemaFormSet, "fields")
    return render(
        request,
        "ingestion/dataset_form.html#field-row",
        {"row": row, "next_index": next_index, "added": True},
    )


@require_GET
@console_view()
def batch_list(request, ws):
    form = BatchFilterForm(request.GET or None, organisation=ws.organisation)
    cursor = request.GET.get("before", "")
    page = filtered_page(
        form, lambda filters: selectors.batches_page(ws.organisation, filters, cursor)
    )
    return render_list(
        request, "ingestion/batch_list.html", {"section": "batches", "form": form, "page": page}
    )


@require_GET
@console_view()
def batch_detail(request, ws, pk):
    batch = _batch_for(ws, pk)
    context = {
        "section": "batches",
        "batch": batch,
        "moving": batch.status not in ENDED,
        "can_abort": batch.status in services.ABORTABLE,
        "can_revert": batch.status in services.REVERTIBLE,
        "can_delete": batch.status in services.DELETABLE,
    }

    if request.htmx and request.htmx.target == f"batch-{pk}":
        response = render(request, "ingestion/batch_detail.html#summary", context)
        return response if context["moving"] else HttpResponseStopPolling(response.content)
    return render(request, "ingestion/batch_detail.html", context)


@require_POST
@console_view(change_role(Batch))
def batch_action(request, ws, pk, action):
    if action not in ACTIONS:
        return redirect("batch", pk)
    batch = _batch_for(ws, pk)
    service, done = ACTIONS[action]
    try:
        service(batch=batch, user=request.user)
    except TransitionError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(request, f"Batch {batch.pk} {done}.")
    return redirect(reverse("batch", args=[batch.pk]))
