"""The console's dashboard, instances and executions pages (htmx for the live parts)."""

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling

from apps.accounts.permissions import change_role
from apps.alerts import selectors as alert_selectors
from apps.alerts.forms import RuleForm
from apps.alerts.models import AlertRule
from apps.core.console import console_view, filtered_page, render_list, show_refusal
from apps.core.errors import TransitionError
from apps.core.text import parse_int
from apps.plugins.property_types import value_as_display
from apps.runner import services as runner
from apps.runner.logs import log_size, log_texts, read_log, whole_lines
from apps.runner.selectors import isolation_warnings
from apps.scheduling import selectors, services
from apps.scheduling.charts import COLOURS, stacked_bars, y_axis
from apps.scheduling.cron import (
    describe_cron,
    next_fire_times,
    time_zones_by_region,
    validate_cron,
    validate_time_zone,
)
from apps.scheduling.forms import BackfillForm, ExecutionFilterForm, InstanceForm, RunAtForm
from apps.scheduling.models import (
    Backfill,
    CleanUp,
    Execution,
    ExecutionType,
    IntegrationBatchInstance,
)

BACKFILLS_SHOWN = 5
LOG_SHOWN = 1_000_000  # characters of a log a page shows; the download has them all


def _instance_for(ws, pk) -> IntegrationBatchInstance:
    return get_object_or_404(
        IntegrationBatchInstance.objects.select_related("version__plugin"),
        pk=pk,
        organisation=ws.organisation,
    )


def _execution_for(ws, pk) -> Execution:
    return get_object_or_404(
        Execution.objects.select_related("instance"), pk=pk, organisation=ws.organisation
    )


# --- Dashboard -----------------------------------------------------------------------------


@require_GET
@console_view()
def dashboard(request, ws):
    now = timezone.now()
    summary = selectors.dashboard(ws.organisation, now)
    bars, days = stacked_bars(summary.days, summary.per_day)
    return render(
        request,
        "scheduling/dashboard.html",
        {
            "section": "dashboard",
            "summary": summary,
            "scheduler": selectors.scheduler_health(ws.organisation, now),
            "isolation_warnings": isolation_warnings(now),
            "bars": bars,
            "days": days,
            "ticks": y_axis(summary.days, summary.per_day),
            "yesterday": (now - timedelta(days=1)).date().isoformat(),
            "legend": COLOURS.items(),
            "clean_ups": CleanUp.objects.filter(organisation=ws.organisation)[:5],
        },
    )


# --- Instances -----------------------------------------------------------------------------


@require_GET
@console_view()
def instance_list(request, ws):
    archived = request.GET.get("archived") == "1"
    page = selectors.instances_page(
        ws.organisation, archived=archived, cursor=request.GET.get("after", "")
    )
    return render(
        request,
        "scheduling/instance_list.html",
        {
            "section": "instances",
            "instances": _with_history(page.rows),
            "page": page,
            "archived": archived,
        },
    )


def _with_history(instances) -> list[IntegrationBatchInstance]:
    """The instances, each with its `history` (latest runs, median and p95 durations)."""
    instances = list(instances)
    histories = selectors.run_histories([instance.pk for instance in instances])
    for instance in instances:
        instance.history = histories[instance.pk]
    return instances


def _row(request, instance, refusal: str = "", acted: bool = False):
    """The instance's row in the list, as it is now (after a pause or a resume); `acted`:
    the control that undoes the action takes the focus the swapped button had."""
    rows = selectors.instance_rows(instance.organisation, archived=instance.archived)
    [fresh] = _with_history(rows.filter(pk=instance.pk))
    return render(
        request,
        "scheduling/instance_list.html#row",
        {"instance": fresh, "refusal": refusal, "acted": acted},
    )


def _act_on_instance(request, ws, pk, service, done: str):
    """Pause, resume or archive. From the list (htmx), the row is swapped in place and says
    so itself; otherwise the next page says what happened."""
    instance = _instance_for(ws, pk)
    refusal = ""
    try:
        service(instance=instance, user=request.user)
    except TransitionError as error:
        refusal = error.message
    if request.htmx:
        return _row(request, instance, refusal, acted=True)
    if refusal:
        messages.error(request, refusal)
    else:
        messages.success(request, f"{instance.name}: {done}.")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = reverse("instance", args=[instance.pk])  # never off to another site
    return redirect(back)


@require_POST
@console_view(change_role(IntegrationBatchInstance))
def instance_pause(request, ws, pk):
    return _act_on_instance(
        request, ws, pk, services.instance_pause, "paused, its coming runs canceled"
    )


@require_POST
@console_view(change_role(IntegrationBatchInstance))
def instance_resume(request, ws, pk):
    return _act_on_instance(request, ws, pk, services.instance_resume, "resumed")


@require_POST
@console_view(change_role(IntegrationBatchInstance))
def instance_archive(request, ws, pk):
    return _act_on_instance(
        request, ws, pk, services.instance_archive, "archived, its waiting runs canceled"
    )


@require_POST
@console_view(change_role(IntegrationBatchInstance))
def instance_restore(request, ws, pk):
    return _act_on_instance(request, ws, pk, services.instance_restore, "restored")


@require_POST
@console_view(change_role(Execution))
def instance_run(request, ws, pk):
    """Run now, or at the time given (in the instance's time zone)."""
    instance = _instance_for(ws, pk)
    form = RunAtForm(request.POST, time_zone=instance.cron_timezone)
    if form.is_valid():
        try:
            execution = runner.execution_create_manual(
                instance=instance, user=request.user, **form.cleaned_data
            )
        except ValidationError as refusal:
            show_refusal(form, refusal.message_dict)
        except TransitionError as refusal:
            form.add_error(None, refusal.message)
        else:
            target = reverse("execution", args=[execution.pk])
            return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
    if request.htmx:  # the list's Run now: the row says why
        return _row(request, instance, " ".join(m for ms in form.errors.values() for m in ms))
    return _instance_page(request, ws, instance, form, status=400)


@require_http_methods(["GET", "POST"])
@console_view(change_role(Backfill))
def instance_backfill(request, ws, pk):
    """A backfill: preview what it would create, then create it. Creating runs only what
    was previewed: if the range now holds another count, the new preview shows instead."""
    instance = _instance_for(ws, pk)
    if request.method == "GET":
        form = BackfillForm(time_zone=instance.cron_timezone, initial=_last_week(instance))
        return _backfill_page(request, instance, form)
    form = BackfillForm(request.POST, time_zone=instance.cron_timezone)
    plan = _refused_on(form, runner.backfill_plan, instance=instance) if form.is_valid() else None
    creating = request.POST.get("action") == "create"
    if plan and creating and form.cleaned_data["previewed"] == plan.count:
        backfill = _refused_on(form, runner.backfill_create, instance=instance, user=request.user)
        if backfill:
            messages.success(request, f"Backfill {backfill.pk}: {backfill.run_count} runs created.")
            target = reverse("instance", args=[instance.pk]) + "#backfills"
            return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
        plan = None
    if plan is None:
        return _backfill_page(request, instance, form, status=400)
    previewed = BackfillForm(
        {**request.POST.dict(), "previewed": plan.count}, time_zone=instance.cron_timezone
    )
    previewed.is_valid()
    shown_before = form.cleaned_data["previewed"] if creating else None
    return _backfill_page(
        request, instance, previewed, plan, changed=creating, shown_before=shown_before
    )


def _refused_on(form, service, **arguments):
    """What `service` returns for the form's backfill, or None with its refusal on the form."""
    try:
        return service(**arguments, **form.asked())
    except ValidationError as refusal:
        show_refusal(form, refusal.message_dict)
    except TransitionError as refusal:
        form.add_error(None, refusal.message)
    return None


def _last_week(instance) -> dict:
    """The form's first range: the last seven days, to now."""
    now = timezone.now().replace(microsecond=0)
    zone = BackfillForm(time_zone=instance.cron_timezone)
    return {
        "start_date": zone.wall_time(now - timedelta(days=7)),
        "end_date": zone.wall_time(now),
        "only_missing": True,
    }


def _backfill_page(
    request, instance, form, plan=None, changed=False, shown_before=None, status: int = 200
):
    template = "scheduling/backfill.html"
    if request.htmx:
        template += "#backfill"
    context = {
        "section": "instances",
        "instance": instance,
        "form": form,
        "plan": plan,
        "changed": changed,
        "shown_before": shown_before,
        "max_runs": settings.BACKFILL_MAX_RUNS,
    }
    return render(request, template, context, status=status)


@require_POST
@console_view(change_role(Backfill))
def backfill_cancel(request, ws, pk):
    backfill = get_object_or_404(Backfill, pk=pk, organisation=ws.organisation)
    canceled = runner.backfill_cancel(backfill=backfill, user=request.user)
    messages.success(
        request,
        f"Backfill {backfill.pk}: {canceled} waiting run{'s' if canceled != 1 else ''} canceled.",
    )
    return redirect(reverse("instance", args=[backfill.instance_id]) + "#backfills")


@require_GET
@console_view()
def instance_detail(request, ws, pk):
    instance = _instance_for(ws, pk)
    last = (
        instance.executions.filter(execution_type=ExecutionType.MANUAL)
        .order_by("-pk")
        .values("parameters")
        .first()
    )
    run_form = RunAtForm(time_zone=instance.cron_timezone, initial=last)
    return _instance_page(request, ws, instance, run_form)


def _instance_page(request, ws, instance, run_form, status: int = 200):
    [annotated] = _with_history(
        selectors.instance_rows(ws.organisation, archived=instance.archived).filter(pk=instance.pk)
    )
    properties = [
        {
            "prop": effective.prop,
            "value": value_as_display(effective.prop.property_type, effective.value),
            "own": effective.own,
        }
        for effective in selectors.effective_properties(instance)
    ]
    return render(
        request,
        "scheduling/instance_detail.html",
        {
            "section": "instances",
            "instance": annotated,
            "properties": properties,
            "recent": instance.executions.order_by("-expected_start_date", "-pk")[:10],
            "waiting": instance.executions.pending().count(),
            "events": instance.events.select_related("user").order_by("-created_at")[:10],
            "backfills": selectors.backfills_with_progress()
            .filter(instance=instance)
            .select_related("user")
            .order_by("-created_at", "-pk")[:BACKFILLS_SHOWN],
            "run_form": run_form,
            "description": describe_cron(instance.cron) if instance.cron else "",
            **_alerting(ws, instance),
        },
        status=status,
    )


def _alerting(ws, instance) -> dict:
    """The instance's own alert rules, or how many default ones it follows."""
    own = list(alert_selectors.rules_listed().filter(instance=instance))
    return {
        "alert_rules": own,
        "default_alert_rules": 0
        if own
        else AlertRule.objects.filter(organisation=ws.organisation, instance=None).count(),
        "alert_rule_form": RuleForm(organisation=ws.organisation),
    }


@require_http_methods(["GET", "POST"])
@console_view(change_role(IntegrationBatchInstance))
def instance_new(request, ws):
    form = InstanceForm(request.POST or None, organisation=ws.organisation)
    if request.method == "POST" and form.is_valid():
        try:
            instance = services.instance_create(
                organisation=ws.organisation, user=request.user, **form.settings()
            )
        except ValidationError as refusal:
            form.add_service_errors(refusal)
        else:
            messages.success(request, f"{instance.name} created.")
            return redirect("instance", instance.pk)
    return render(
        request,
        "scheduling/instance_form.html",
        {
            "section": "instances",
            "form": form,
            "time_zones": time_zones_by_region(),
        },
    )


@require_http_methods(["GET", "POST"])
@console_view(change_role(IntegrationBatchInstance))
def instance_edit(request, ws, pk):
    instance = _instance_for(ws, pk)
    form = InstanceForm(request.POST or None, instance=instance, organisation=ws.organisation)
    if request.method == "POST" and form.is_valid():
        try:
            instance.refresh_from_db()  # the service changes the saved instance, not the form's
            services.instance_update(
                instance=instance, user=request.user, **form.changed_settings()
            )
        except ValidationError as refusal:
            form.add_service_errors(refusal)
        except TransitionError as refusal:
            form.add_error(None, refusal.message)
        else:
            messages.success(request, f"{instance.name} saved.")
            return redirect("instance", instance.pk)
    return render(
        request,
        "scheduling/instance_form.html",
        {
            "section": "instances",
            "form": form,
            "instance": instance,
            "time_zones": time_zones_by_region(),
        },
    )


@require_GET
@console_view()
def cron_preview(request, ws):
    """The cron in words and its next five fire times, as it is typed."""
    cron, zone = request.GET.get("cron", "").strip(), request.GET.get("cron_timezone", "UTC")
    context = {"cron": cron, "zone": zone}
    if cron:
        try:
            validate_cron(cron)
            validate_time_zone(zone)
        except ValidationError as error:
            context["error"] = " ".join(error.messages)
        else:
            context["description"] = describe_cron(cron)
            context["fire_times"] = next_fire_times(cron, zone, timezone.now(), 5)
    return render(request, "scheduling/instance_form.html#cron-preview", context)


@require_GET
@console_view()
def instance_property_fields(request, ws):
    """The property fields of the version chosen in the instance form."""
    form = InstanceForm(request.GET, organisation=ws.organisation)
    return render(request, "scheduling/instance_form.html#property-fields", {"form": form})


# --- Executions ----------------------------------------------------------------------------


@require_GET
@console_view()
def execution_list(request, ws):
    form = ExecutionFilterForm(request.GET or None, organisation=ws.organisation)
    cursor = request.GET.get("before", "")
    page = filtered_page(
        form, lambda filters: selectors.executions_page(ws.organisation, filters, cursor)
    )
    return render_list(
        request,
        "scheduling/execution_list.html",
        {
            "section": "executions",
            "form": form,
            "page": page,
            "live": any(row.may_change_soon(timezone.now()) for row in page.rows),
        },
    )


@require_GET
@console_view()
def execution_detail(request, ws, pk):
    execution = _execution_for(ws, pk)
    context = {"section": "executions", "execution": execution}
    if request.htmx and request.htmx.target == f"summary-{pk}":
        return _stop_polling_when_finished(
            execution, render(request, "scheduling/execution_detail.html#summary", context)
        )
    log = read_log(execution.pk, limit=LOG_SHOWN)
    context |= {
        "log": log,
        "log_cut": execution.is_terminal and log.next_offset < log_size(execution.pk),
        "retry": Execution.objects.filter(retry_of=execution).first(),
    }
    return render(request, "scheduling/execution_detail.html", context)


@require_GET
@console_view()
def execution_log(request, ws, pk):
    """What the log gained since `offset`, and the element that asks again (until the run
    has ended and nothing follows)."""
    execution = _execution_for(ws, pk)
    offset = parse_int(request.GET.get("offset", "0")) or 0
    piece = read_log(execution.pk, offset=offset, limit=LOG_SHOWN)
    if not execution.is_terminal:
        piece = whole_lines(piece)  # a line's end comes with the next piece, not apart
    finished = execution.is_terminal and piece.next_offset >= log_size(execution.pk)
    response = render(
        request,
        "scheduling/execution_detail.html#log-tail",
        {
            "execution": execution,
            "text": piece.text,
            "next_offset": piece.next_offset,
            "finished": finished,
        },
    )
    return HttpResponseStopPolling(response.content) if finished else response


@require_GET
@console_view()
def execution_log_download(request, ws, pk):
    """The whole log as it is stored, streamed a chunk at a time."""
    execution = _execution_for(ws, pk)
    response = StreamingHttpResponse(
        log_texts(execution.pk), content_type="text/plain; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="execution-{execution.pk}.log"'
    return response


@require_POST
@console_view(change_role(Execution))
def execution_repeat(request, ws, pk):
    """Re-run (or retry) a finished execution: the new run's page, or why not."""
    execution = _execution_for(ws, pk)
    try:
        again = runner.execution_repeat(execution=execution, user=request.user)
    except TransitionError as refusal:
        messages.error(request, refusal.message)
        return redirect("execution", execution.pk)
    return redirect("execution", again.pk)


@require_POST
@console_view(change_role(Execution))
def execution_cancel(request, ws, pk):
    execution = _execution_for(ws, pk)
    try:
        runner.execution_cancel(execution=execution, user=request.user)
    except TransitionError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(
            request, "Cancel asked for." if execution.status == "RUNNING" else "Canceled."
        )
    target = reverse("execution", args=[execution.pk])
    return HttpResponseClientRedirect(target) if request.htmx else redirect(target)


def _stop_polling_when_finished(execution: Execution, response):
    """A finished execution's fragment is the last: 286 tells htmx to stop asking."""
    return HttpResponseStopPolling(response.content) if execution.is_terminal else response
