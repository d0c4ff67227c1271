"""Which rules apply where, and the lists the console and the API show."""

from datetime import timedelta

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from apps.alerts.models import Alert, AlertKind, AlertRule, DeliveryAttempt
from apps.scheduling.models import Execution, ExecutionStatus, IntegrationBatchInstance
from apps.scheduling.selectors import percentile

WATCH_BATCH = 200  # runs alerted on per rule and pass: a backlog is worked off pass by pass
P95_SAMPLE = 20  # the successful runs a p95 duration is taken over
P95_MINIMUM = 5  # ...and how many it needs before it means anything


def open_streaks():
    """Failure streaks still counting: their instance's last runs failed."""
    return Alert.objects.filter(kind=AlertKind.FAILURE, closed_at=None)


def executions_ending_no_streak() -> QuerySet:
    """Executions whose instance has no failure streak open: a success of one of them has
    nothing to close or announce."""
    return Execution.objects.exclude(
        Exists(open_streaks().filter(instance_id=OuterRef("instance_id")))
    )


def rules_for(instance: IntegrationBatchInstance) -> list[AlertRule]:
    """The instance's own rules, or, when it has none, its organisation's default ones."""
    rules = list(
        AlertRule.objects.select_related("channel")
        .filter(organisation_id=instance.organisation_id)
        .filter(Q(instance=instance) | Q(instance__isnull=True))
    )
    own = [rule for rule in rules if rule.instance_id is not None]
    return own or rules


def watching_rules():
    """Each rule that watches runs' timing, with the condition on executions it covers."""
    watching = AlertRule.objects.select_related("channel").filter(
        Q(not_started_minutes__isnull=False)
        | Q(running_longer_than_minutes__isnull=False)
        | Q(running_longer_than_p95__isnull=False)
    )
    for rule in watching:
        if rule.instance_id is not None:
            yield rule, Q(instance_id=rule.instance_id)
        else:
            with_own_rules = AlertRule.objects.filter(
                organisation_id=rule.organisation_id, instance__isnull=False
            ).values("instance_id")
            yield rule, Q(organisation_id=rule.organisation_id) & ~Q(instance_id__in=with_own_rules)


def unalerted(rule: AlertRule, kind: AlertKind) -> QuerySet:
    """Executions this rule has not yet alerted `kind` on, oldest first."""
    alerted = Alert.objects.filter(rule=rule, kind=kind, execution=OuterRef("pk"))
    return (
        Execution.objects.select_related("instance")
        .filter(~Exists(alerted))
        .order_by("expected_start_date", "pk")
    )


def recent_p95(instance_id: int) -> timedelta | None:
    """The 95th percentile of the instance's last successful runs' durations (nearest
    rank), or None while it has too few of them."""
    spans = [
        end - start
        for start, end in Execution.objects.filter(
            instance_id=instance_id, status=ExecutionStatus.SUCCEEDED, start_date__isnull=False
        )
        .order_by("-end_date")
        .values_list("start_date", "end_date")[:P95_SAMPLE]
        if start and end
    ]
    if len(spans) < P95_MINIMUM:
        return None
    return percentile(sorted(spans), 0.95)


def alerts_listed() -> QuerySet:
    return Alert.objects.select_related("channel", "instance").prefetch_related(
        Prefetch("delivery_attempts", queryset=DeliveryAttempt.objects.order_by("attempted_at"))
    )


def rules_listed() -> QuerySet:
    return AlertRule.objects.select_related("channel", "instance")
