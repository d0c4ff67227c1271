"""/v1/audience_segment_external_feeds: feeds, the unit updates they take in, their
buffers and their batches."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from drf_spectacular.utils import extend_schema
from rest_framework.views import APIView

from apps.accounts.models import Role
from apps.accounts.permissions import change_role
from apps.core.api.access import Access
from apps.core.api.errors import MissingReference, api_field_names
from apps.core.api.inputs import as_id, as_uuid, valid
from apps.core.api.responses import envelope, ok, page
from apps.feeds import selectors, services
from apps.feeds.intake import clean_updates
from apps.feeds.models import AudienceSegmentExternalFeed, FeedBatch
from apps.feeds.serializers import (
    AcceptedSerializer,
    BufferSerializer,
    FeedBatchFilterSerializer,
    FeedBatchSerializer,
    FeedFilterSerializer,
    FeedPropertySerializer,
    FeedSerializer,
    FeedUpdateSerializer,
    FeedWriteSerializer,
    UserSegmentUpdateSerializer,
)
from apps.ingestion.api import INGESTION_AUTHENTICATION
from apps.plugins.models import PluginVersion

Feed = AudienceSegmentExternalFeed


def _feed(request, feed_id, minimum: Role = Role.READER) -> Feed:
    return Access.of(request).get(selectors.feeds_listed(), feed_id, minimum)


def _answer(feed: Feed, status: int = 200):
    return ok(FeedSerializer(selectors.feeds_listed().get(pk=feed.pk)).data, status=status)


def _changes(data: dict) -> dict:
    changes = {name: data[name] for name in services.EDITABLE_FEED_FIELDS if name in data}
    if "properties" in data:
        changes["properties"] = data["properties"]
    return changes


class FeedListView(APIView):
    @extend_schema(
        operation_id="audience_segment_external_feeds_list",
        parameters=[FeedFilterSerializer],
        responses=envelope(FeedSerializer, many=True),
    )
    def get(self, request):
        """External feeds of your organisations."""
        params = valid(FeedFilterSerializer, request.query_params)
        found = Access.of(request).scoped(selectors.feeds_listed())
        if "status" in params:
            found = found.filter(status=params["status"])
        if "plugin_version_id" in params:
            found = found.filter(version_id=as_id(params["plugin_version_id"]))
        return page(found, FeedSerializer, params)

    @extend_schema(request=FeedWriteSerializer, responses={201: envelope(FeedSerializer)})
    def post(self, request):
        """Create a feed of an AUDIENCE_SEGMENT_EXTERNAL_FEED version for an audience
        segment (editors). A worker then calls the plugin's creation and connection
        handlers: creation_status and connection_status show their answers."""
        access = Access.of(request)
        access.require_somewhere(change_role(Feed))
        data = valid(FeedWriteSerializer, request.data)
        organisation = access.organisation_for_new(Feed, data.get("organisation_id"))
        version = PluginVersion.objects.filter(
            pk=as_id(data["plugin_version_id"]), plugin__organisation=organisation
        ).first()
        if version is None:
            raise MissingReference("plugin_version_id", "No such version in this organisation.")
        with api_field_names(version="plugin_version_id", segment_id="audience_segment_id"):
            feed = services.feed_create(
                organisation=organisation,
                version=version,
                segment_id=data["audience_segment_id"],
                status=data.get("status", "ACTIVE"),
                user=request.user if getattr(request.user, "pk", None) else None,
                **_changes(data),
            )
        return _answer(feed, status=201)


class FeedDetailView(APIView):
    @extend_schema(responses=envelope(FeedSerializer))
    def get(self, request, feed_id):
        return ok(FeedSerializer(_feed(request, feed_id)).data)

    @extend_schema(request=FeedUpdateSerializer, responses=envelope(FeedSerializer))
    def put(self, request, feed_id):
        """Change a feed (editors): the fields sent change. status PAUSED pauses it (updates
        are still taken in and buffered; nothing is delivered), ACTIVE resumes it."""
        feed = _feed(request, feed_id, change_role(Feed))
        data = valid(FeedUpdateSerializer, request.data, partial=True)
        changes = _changes(data)
        if "status" in data:
            changes["status"] = data["status"]
        if changes:
            services.feed_update(feed=feed, user=request.user, **changes)
        return _answer(feed)

    patch = put


class FeedPropertiesView(APIView):
    @extend_schema(responses=envelope(FeedPropertySerializer, many=True))
    def get(self, request, feed_id):
        """The feed's properties as its plugin sees them: the version's, with the feed's own
        values."""
        feed = _feed(request, feed_id)
        properties = selectors.merged_properties(feed)
        return ok(
            FeedPropertySerializer(
                [{"technical_name": name, **value} for name, value in properties.items()],
                many=True,
            ).data
        )


class UserSegmentUpdatesView(APIView):
    """Unit updates in: also from plugin code, with its run's credential."""

    authentication_classes = INGESTION_AUTHENTICATION

    @extend_schema(
        request=UserSegmentUpdateSerializer(many=True),
        responses={202: envelope(AcceptedSerializer)},
    )
    def post(self, request, feed_id):
        """Store unit updates for the feed (editors): one object or a list of at most
        FEED_MAX_UPDATES_PER_REQUEST. 202 once they are stored; a worker takes them
        through the plugin, in order. Paused feeds take them in too."""
        feed = _feed(request, feed_id, change_role(Feed))
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > settings.FEED_MAX_REQUEST_BYTES:
            raise RequestDataTooBig(
                f"at most {settings.FEED_MAX_REQUEST_BYTES} bytes per request; "
                f"this one has {length}."
            )
        updates = clean_updates(request.data)
        accepted = services.updates_receive(feed=feed, updates=updates)
        return ok(AcceptedSerializer({"accepted": accepted}).data, status=202)


class FeedTroubleshootView(APIView):
    @extend_schema(request=None, responses={202: envelope(FeedSerializer)})
    def post(self, request, feed_id):
        """Ask the plugin's on_troubleshoot handler (editors); its answer appears in the
        feed's troubleshoot field once a worker has asked."""
        feed = services.feed_troubleshoot(
            feed=_feed(request, feed_id, change_role(Feed)), user=request.user
        )
        return _answer(feed, status=202)


class FeedConnectView(APIView):
    @extend_schema(request=None, responses={202: envelope(FeedSerializer)})
    def post(self, request, feed_id):
        """Ask the creation and connection handlers again (editors), after an error."""
        feed = services.feed_reconnect(
            feed=_feed(request, feed_id, change_role(Feed)), user=request.user
        )
        return _answer(feed, status=202)


class FeedBufferListView(APIView):
    @extend_schema(responses=envelope(BufferSerializer, many=True))
    def get(self, request, feed_id):
        """Lines waiting for a batch, by grouping key: how many, and since when."""
        feed = _feed(request, feed_id)
        return ok(BufferSerializer(selectors.buffers(feed), many=True).data)


class FeedBatchListView(APIView):
    @extend_schema(
        operation_id="audience_segment_external_feeds_batches_list",
        parameters=[FeedBatchFilterSerializer],
        responses=envelope(FeedBatchSerializer, many=True),
    )
    def get(self, request, feed_id):
        """The feed's batches, newest first."""
        feed = _feed(request, feed_id)
        params = valid(FeedBatchFilterSerializer, request.query_params)
        found = FeedBatch.objects.filter(feed=feed).order_by("-created_at", "-id")
        if "status" in params:
            found = found.filter(status=params["status"])
        if "grouping_key" in params:
            found = found.filter(grouping_key=params["grouping_key"])
        return page(found, FeedBatchSerializer, params)


def _batch(request, feed_id, batch_id, minimum: Role = Role.READER) -> FeedBatch:
    feed = _feed(request, feed_id, minimum)
    pk = as_uuid(batch_id)
    batch = FeedBatch.objects.filter(feed=feed, pk=pk).first() if pk else None
    if batch is None:
        raise MissingReference("batch_id", "No such batch in this feed.")
    return batch


class FeedBatchDetailView(APIView):
    @extend_schema(responses=envelope(FeedBatchSerializer))
    def get(self, request, feed_id, batch_id):
        return ok(FeedBatchSerializer(_batch(request, feed_id, batch_id)).data)


class FeedBatchReplayView(APIView):
    @extend_schema(request=None, responses=envelope(FeedBatchSerializer))
    def post(self, request, feed_id, batch_id):
        """Deliver a FAILED batch again, with its lines (editors)."""
        batch = _batch(request, feed_id, batch_id, change_role(Feed))
        return ok(FeedBatchSerializer(services.batch_replay(batch=batch, user=request.user)).data)
