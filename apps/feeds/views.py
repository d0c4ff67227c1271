"""The console's feeds: the Feeds list, a feed's page (set-up answers, pause and resume,
the version's batching configuration, buffers by grouping key, batches with their
messages and Replay, a chart of lines in and out, Troubleshoot, the plugin's log), and the
form to create one."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.permissions import change_role
from apps.core.console import console_view, render_list, show_refusal
from apps.core.errors import TransitionError
from apps.core.pagination import keyset_page
from apps.feeds import charts, selectors, services
from apps.feeds.forms import BatchFilterForm, BatchingForm, FeedForm
from apps.feeds.models import AudienceSegmentExternalFeed, FeedBatch
from apps.plugins.services import batching_configuration_set

Feed = AudienceSegmentExternalFeed


def _feed_for(ws, pk) -> Feed:
    feed = selectors.feeds_listed().filter(organisation=ws.organisation, pk=pk).first()
    if feed is None:
        raise Http404("No such feed in this organisation.")
    return feed


@require_GET
@console_view()
def feed_list(request, ws):
    feeds = selectors.feeds_listed().filter(organisation=ws.organisation)
    page = keyset_page(feeds, "created_at", request.GET.get("before", ""))
    return render_list(request, "feeds/feed_list.html", {"section": "feeds", "page": page})


@require_http_methods(["GET", "POST"])
@console_view(change_role(Feed))
def feed_new(request, ws):
    form = FeedForm(request.POST or None, organisation=ws.organisation)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            feed = services.feed_create(
                organisation=ws.organisation,
                version=data["version"],
                segment_id=data["segment_id"],
                name=data["name"],
                status=data["status"],
                properties=data["properties"],
                ram_size=data["ram_size"],
                user=request.user,
            )
        except ValidationError as refusal:
            show_refusal(form, refusal.message_dict)
        else:
            return redirect("feed", feed.pk)
    return render(request, "feeds/feed_new.html", {"section": "feeds", "form": form})


def _live(request, feed: Feed) -> dict:
    batches_form = BatchFilterForm(request.GET or None)
    batches = FeedBatch.objects.filter(feed=feed)
    if batches_form.is_valid() and batches_form.cleaned_data["status"]:
        batches = batches.filter(status=batches_form.cleaned_data["status"])
    now = timezone.now()
    return {
        "feed": feed,
        "buffers": selectors.buffers(feed),
        "updates": selectors.update_problems(feed),
        "counts": selectors.batch_counts(feed),
        "batches_form": batches_form,
        "page": keyset_page(batches, "created_at", request.GET.get("before", "")),
        "chart": charts.lines_chart(selectors.lines_over_time(feed, now)),
        "log": feed.log_entries.all()[:20],
        "now": now,
    }


@require_GET
@console_view()
def feed_detail(request, ws, pk):
    feed = _feed_for(ws, pk)
    context = {"section": "feeds", **_live(request, feed)}
    configuration = getattr(feed.version, "batching_configuration", None)
    context["batching_form"] = BatchingForm(
        initial={
            "enable_batching": configuration.enable_batching if configuration else False,
            "batch_flush_max_size": configuration.batch_flush_max_size if configuration else 1000,
        }
    )
    if request.htmx and request.htmx.target == "feed-summary":
        return render(request, "feeds/feed_detail.html#summary", context)
    if request.htmx and request.htmx.target == "feed-activity":
        return render(request, "feeds/feed_detail.html#activity", context)
    return render(request, "feeds/feed_detail.html", context)


def _act(request, feed: Feed, action, done: str):
    try:
        action(feed=feed, user=request.user)
    except TransitionError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(request, done)
    return redirect("feed", feed.pk)


@require_POST
@console_view(change_role(Feed))
def feed_pause(request, ws, pk):
    return _act(request, _feed_for(ws, pk), services.feed_pause, "Paused: updates are buffered.")


@require_POST
@console_view(change_role(Feed))
def feed_resume(request, ws, pk):
    return _act(
        request, _feed_for(ws, pk), services.feed_resume, "Resumed: what waited is delivered."
    )


@require_POST
@console_view(change_role(Feed))
def feed_troubleshoot(request, ws, pk):
    return _act(
        request, _feed_for(ws, pk), services.feed_troubleshoot, "Asked the plugin to troubleshoot."
    )


@require_POST
@console_view(change_role(Feed))
def feed_connect(request, ws, pk):
    return _act(
        request, _feed_for(ws, pk), services.feed_reconnect, "Asking the plugin to connect again."
    )


@require_POST
@console_view(change_role(Feed))
def feed_batching(request, ws, pk):
    feed = _feed_for(ws, pk)
    form = BatchingForm(request.POST)
    if form.is_valid():
        try:
            batching_configuration_set(version=feed.version, **form.cleaned_data)
        except ValidationError as refusal:
            messages.error(request, " ".join(refusal.messages))
        else:
            messages.success(request, f"Batching of version {feed.version.version_id} saved.")
            services.feed_wake(feed.pk)
    else:
        messages.error(
            request,
            "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()),
        )
    return redirect("feed", feed.pk)


@require_POST
@console_view(change_role(Feed))
def batch_replay(request, ws, pk, batch_id):
    feed = _feed_for(ws, pk)
    batch = FeedBatch.objects.filter(feed=feed, pk=batch_id).first()
    if batch is None:
        raise Http404("No such batch in this feed.")
    return _act(
        request,
        feed,
        lambda feed, user: services.batch_replay(batch=batch, user=user),
        f"Batch of {batch.line_count} lines replayed.",
    )
