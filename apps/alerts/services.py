"""Every change to alert channels, rules and alerts, each in one function.

Alerts are created in the transaction of the change that causes them (a run failing, an
instance pausing) and handed to the workers once it commits: nothing is ever sent from a
web request, and a channel that is down never slows a run."""

import secrets as random_secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from apps.alerts import selectors
from apps.alerts.models import (
    Alert,
    AlertChannel,
    AlertKind,
    AlertRule,
    DeliveryAttempt,
    DeliveryStatus,
)
from apps.alerts.tasks import deliver
from apps.audit import services as audit
from apps.core import leases, secrets
from apps.core.text import counted
from apps.scheduling.models import Execution, ExecutionStatus, IntegrationBatchInstance

CHANNEL_FIELDS = ("name", "kind", "recipients", "url", "body_format")
RULE_FIELDS = (
    "channel",
    "on_failure",
    "on_recovery",
    "not_started_minutes",
    "running_longer_than_minutes",
    "running_longer_than_p95",
)


# --- Channels ---------------------------------------------------------------------------


@transaction.atomic
def channel_create(*, organisation, **fields) -> tuple[AlertChannel, str]:
    """A new channel, and its signing secret in clear: shown this once."""
    channel = AlertChannel(organisation=organisation, **fields)
    secret = _new_secret(channel)
    _check_channel(channel)
    channel.save()
    audit.record("alert_channel.created", channel, changes=_destination(channel))
    return channel, secret


@transaction.atomic
def channel_update(*, channel: AlertChannel, **changes) -> AlertChannel:
    before = audit.snapshot(channel, CHANNEL_FIELDS)
    for name, value in changes.items():
        setattr(channel, name, value)
    _check_channel(channel)
    channel.save()
    changed = audit.changes_between(before, audit.snapshot(channel, CHANNEL_FIELDS))
    audit.record("alert_channel.changed", channel, changes=changed)
    return channel


@transaction.atomic
def channel_renew_secret(*, channel: AlertChannel) -> str:
    """A new signing secret for the channel, in clear: shown this once."""
    secret = _new_secret(channel)
    channel.save(update_fields=["signing_secret"])
    audit.record("alert_channel.secret_renewed", channel)
    return secret


@transaction.atomic
def channel_delete(*, channel: AlertChannel) -> None:
    """The channel goes, and with it the rules that send to it and its alerts."""
    audit.record("alert_channel.deleted", channel, changes=_destination(channel))
    channel.delete()


@transaction.atomic
def channel_test(*, channel: AlertChannel, user=None) -> Alert:
    """Send the channel a test alert (through the workers, as every alert)."""
    who = f" by {user}" if getattr(user, "pk", None) else ""
    audit.record("alert_channel.tested", channel, user=user)
    return _open(
        channel=channel,
        kind=AlertKind.TEST,
        subject=f"[Batchworks] Test alert for channel {channel.name!r}",
        message=f"A test{who}: if you read this, alerts sent to {channel.destination} arrive.",
    )


def _destination(channel: AlertChannel) -> dict:
    return {"destination": [None, channel.destination]}


def _new_secret(channel: AlertChannel) -> str:
    secret = random_secrets.token_urlsafe(32)
    channel.signing_secret = secrets.seal(secret)
    return secret


def _check_channel(channel: AlertChannel) -> None:
    channel.full_clean(exclude=["signing_secret"])


# --- Rules ------------------------------------------------------------------------------


@transaction.atomic
def rule_create(*, organisation, instance: IntegrationBatchInstance | None = None, **fields):
    rule = AlertRule(organisation=organisation, instance=instance, **fields)
    if instance is not None and instance.organisation_id != organisation.pk:
        raise ValidationError({"instance": "No such instance in this organisation."})
    rule.full_clean()
    rule.save()
    audit.record("alert_rule.created", rule, changes={"alerts_on": [None, rule.triggers()]})
    return rule


@transaction.atomic
def rule_update(*, rule: AlertRule, **changes) -> AlertRule:
    before = audit.snapshot(rule, RULE_FIELDS)
    for name, value in changes.items():
        setattr(rule, name, value)
    rule.full_clean()
    rule.save()
    changed = audit.changes_between(before, audit.snapshot(rule, RULE_FIELDS))
    audit.record("alert_rule.changed", rule, changes=changed)
    return rule


@transaction.atomic
def rule_delete(*, rule: AlertRule) -> None:
    audit.record("alert_rule.deleted", rule)
    rule.delete()


# --- What runs do -----------------------------------------------------------------------


def run_failed(execution: Execution) -> None:
    """A run failed for good (after its retries): open a streak's alert on each rule that
    alerts on failure, unless the streak already has one — then it only counts."""
    for rule in selectors.rules_for(execution.instance):
        if not rule.on_failure:
            continue
        counted = (
            selectors.open_streaks()
            .filter(rule=rule, instance=execution.instance)
            .update(failures=F("failures") + 1, execution=execution)
        )
        if not counted:
            _open_streak(rule, execution)


def run_succeeded(execution: Execution) -> None:
    """A run succeeded: it closes the instance's open streaks, and tells the rules that
    alert on recovery."""
    ended_streaks = list(
        selectors.open_streaks()
        .select_related("rule__channel")
        .filter(instance_id=execution.instance_id)
        .select_for_update(of=("self",))
    )
    for streak in ended_streaks:
        streak.closed_at = timezone.now()
        streak.save(update_fields=["closed_at"])
        if streak.rule is not None and streak.rule.on_recovery:
            _open(
                channel=streak.rule.channel,
                rule=streak.rule,
                execution=execution,
                kind=AlertKind.RECOVERY,
                subject=f"[Batchworks] {execution.instance.name} recovered",
                message=(
                    f"Execution {execution.pk} succeeded after "
                    f"{counted(streak.failures, 'failed run')} in a row.\n{_link(execution)}"
                ),
            )


def instance_broke(instance: IntegrationBatchInstance, reason: str) -> None:
    """The failure breaker paused the instance: every rule that alerts on failure says so,
    whatever its streak."""
    for rule in selectors.rules_for(instance):
        if rule.on_failure:
            _open(
                channel=rule.channel,
                rule=rule,
                instance=instance,
                kind=AlertKind.PAUSED,
                subject=f"[Batchworks] {instance.name} was paused",
                message=(
                    f"{reason} Its coming runs were canceled; it runs again once someone "
                    f"resumes it.\n{_absolute(reverse('instance', args=[instance.pk]))}"
                ),
            )


def runs_watch(*, now: datetime | None = None) -> int:
    """Alert on runs that have not started N minutes after their time, and on runs still
    RUNNING past their rule's duration; each run once per rule. Returns how many alerts."""
    now = now or timezone.now()
    opened = 0
    for rule, instances in selectors.watching_rules():
        if rule.not_started_minutes:
            opened += _alert_late(rule, rule.not_started_minutes, instances, now)
        if rule.running_longer_than_minutes or rule.running_longer_than_p95:
            opened += _alert_long(rule, instances, now)
    return opened


def _alert_late(rule: AlertRule, minutes: int, instances: Q, now: datetime) -> int:
    waited = timedelta(minutes=minutes)
    late = selectors.unalerted(rule, AlertKind.NOT_STARTED).filter(
        instances,
        status=ExecutionStatus.PENDING,
        expected_start_date__lte=now - waited,
    )
    opened = 0
    for execution in late[: selectors.WATCH_BATCH]:
        opened += _open_once(
            rule,
            execution,
            AlertKind.NOT_STARTED,
            subject=f"[Batchworks] {execution.instance.name}: run {execution.pk} has not started",
            message=(
                f"Execution {execution.pk} was expected at "
                f"{execution.expected_start_date:%Y-%m-%d %H:%M:%S} UTC and is still PENDING "
                f"{counted(minutes, 'minute')} later: are the workers running?"
                f"\n{_link(execution)}"
            ),
        )
    return opened


def _alert_long(rule: AlertRule, instances: Q, now: datetime) -> int:
    running = selectors.unalerted(rule, AlertKind.RUNNING_LONG).filter(
        instances, status=ExecutionStatus.RUNNING
    )
    if rule.running_longer_than_minutes:
        limit = timedelta(minutes=rule.running_longer_than_minutes)
        running = running.filter(start_date__lte=now - limit)
    opened = 0
    for execution in running[: selectors.WATCH_BATCH]:
        if rule.running_longer_than_minutes:
            said = counted(rule.running_longer_than_minutes, "minute")
        else:
            factor = rule.running_longer_than_p95 or 1.0
            p95 = selectors.recent_p95(execution.instance_id)
            if p95 is None or now - execution.start_date <= p95 * factor:
                continue
            said = f"{factor:g} times its recent p95 ({_duration(p95)})"
        opened += _open_once(
            rule,
            execution,
            AlertKind.RUNNING_LONG,
            subject=f"[Batchworks] {execution.instance.name}: run {execution.pk} is running long",
            message=(
                f"Execution {execution.pk} has been RUNNING for "
                f"{_duration(now - execution.start_date)}, longer than {said}."
                f"\n{_link(execution)}"
            ),
        )
    return opened


# --- Delivery ---------------------------------------------------------------------------


@transaction.atomic
def delivery_attempted(
    *, alert: Alert, at: datetime, error: str = "", http_status=None, duration_ms: int = 0
) -> Alert:
    """Record one attempt to deliver `alert`; after a failure, another is due after a
    back-off, until ALERT_DELIVERY_ATTEMPTS have failed."""
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    DeliveryAttempt.objects.create(
        alert=alert,
        attempted_at=at,
        http_status=http_status,
        error=error[:500],
        duration_ms=duration_ms,
    )
    alert.attempts += 1
    if not error:
        alert.status, alert.sent_at, alert.next_attempt_at = DeliveryStatus.SENT, at, None
    elif alert.attempts >= settings.ALERT_DELIVERY_ATTEMPTS:
        alert.status, alert.next_attempt_at = DeliveryStatus.FAILED, None
    else:
        alert.next_attempt_at = at + leases.backoff(settings.ALERT_RETRY_SECONDS, alert.attempts)
        _hand_over_on_commit(alert)
    alert.save(update_fields=["attempts", "status", "sent_at", "next_attempt_at"])
    return alert


def deliveries_resume(*, now: datetime | None = None) -> int:
    """Hand over again the deliveries whose task was lost (a worker died holding it, or
    the queue lost it): those due for longer than a lease. Returns how many."""
    now = now or timezone.now()
    stuck = Alert.objects.filter(
        status=DeliveryStatus.PENDING, next_attempt_at__lt=now - leases.timeout()
    )[: selectors.WATCH_BATCH]
    resumed = 0
    for alert in stuck:
        with transaction.atomic():
            if Alert.objects.filter(pk=alert.pk, next_attempt_at=alert.next_attempt_at).update(
                next_attempt_at=now
            ):
                alert.next_attempt_at = now
                _hand_over_on_commit(alert)
                resumed += 1
    return resumed


# --- Helpers ----------------------------------------------------------------------------


def _open_streak(rule: AlertRule, execution: Execution) -> None:
    error = (execution.error or {}).get("message", "")
    try:
        with transaction.atomic():  # a concurrent failure may open the same streak
            _open(
                channel=rule.channel,
                rule=rule,
                execution=execution,
                kind=AlertKind.FAILURE,
                failures=1,
                subject=f"[Batchworks] {execution.instance.name} failed",
                message=(
                    f"Execution {execution.pk} failed: {error[:2000]}\nFurther failures are not "
                    f"alerted until a run succeeds.\n{_link(execution)}"
                ),
            )
    except IntegrityError:
        pass


def _open_once(rule: AlertRule, execution: Execution, kind: AlertKind, **text) -> int:
    try:
        with transaction.atomic():
            _open(channel=rule.channel, rule=rule, execution=execution, kind=kind, **text)
    except IntegrityError:  # another watcher alerted on it first
        return 0
    return 1


@transaction.atomic
def _open(*, channel: AlertChannel, execution: Execution | None = None, **fields) -> Alert:
    instance = execution.instance if execution is not None else fields.pop("instance", None)
    alert = Alert.objects.create(
        organisation_id=channel.organisation_id,
        channel=channel,
        instance=instance,
        execution=execution,
        next_attempt_at=timezone.now(),
        **fields,
    )
    _hand_over_on_commit(alert)
    return alert


def _hand_over_on_commit(alert: Alert) -> None:
    due = alert.next_attempt_at or timezone.now()
    transaction.on_commit(
        lambda: deliver.using(run_after=due if due > timezone.now() else None).enqueue(alert.pk)
    )


def _link(execution: Execution) -> str:
    return _absolute(reverse("execution", args=[execution.pk]))


def _absolute(path: str) -> str:
    return settings.BATCHWORKS_PUBLIC_URL.rstrip("/") + path


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s"
