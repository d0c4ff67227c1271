from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from apps.runner.services import execution_claim, execution_create_manual, executions_dispatch_due
from apps.scheduling.models import Execution
from tests.factories import make_instance

pytestmark = pytest.mark.django_db
NOW = timezone.now().replace(microsecond=0)


def queued() -> list[tuple[int, object]]:
    results = (t.task_result for t in DBTaskResult.objects.all())
    return sorted((r.args[0], r.task.run_after) for r in results)


def manual(instance, in_seconds: int) -> Execution:
    with time_machine.travel(NOW, tick=False):
        return execution_create_manual(
            instance=instance, expected_start_date=NOW + timedelta(seconds=in_seconds)
        )


def test_due_and_soon_due_executions_are_handed_over_once(settings):
    settings.DISPATCH_HORIZON_SECONDS = 60
    instance = make_instance()
    due, soon, later = manual(instance, 0), manual(instance, 30), manual(instance, 3600)
    running = execution_claim(execution=manual(instance, 0))
    DBTaskResult.objects.all().delete()

    assert executions_dispatch_due(now=NOW) == 2
    assert queued() == [(due.pk, None), (soon.pk, NOW + timedelta(seconds=30))]
    assert executions_dispatch_due(now=NOW + timedelta(seconds=5)) == 0
    assert {later.pk, running.pk}.isdisjoint(pk for pk, _ in queued())


def test_a_run_still_queued_is_never_handed_over_again_however_long_it_waits(settings):
    settings.REDISPATCH_AFTER_SECONDS = 300
    execution = manual(make_instance(), 0)
    executions_dispatch_due(now=NOW)
    for later in (299, 301, 3600, 86400):
        assert executions_dispatch_due(now=NOW + timedelta(seconds=later)) == 0
    assert [pk for pk, _ in queued()] == [execution.pk]


def lost_by_the_queue(execution):
    DBTaskResult.objects.filter(pk=execution.dispatch_task_id).delete()


def ended_without_taking_it(execution):
    DBTaskResult.objects.filter(pk=execution.dispatch_task_id).update(
        status="SUCCESSFUL", finished_at=NOW
    )


def taken_by_a_worker_that_died(execution):
    DBTaskResult.objects.filter(pk=execution.dispatch_task_id).update(
        status="RUNNING", started_at=NOW
    )


@pytest.mark.parametrize(
    "lose", [lost_by_the_queue, ended_without_taking_it, taken_by_a_worker_that_died]
)
def test_a_run_whose_hand_over_was_lost_is_handed_over_again_once(settings, lose):
    settings.REDISPATCH_AFTER_SECONDS = 300
    settings.LEASE_TIMEOUT_SECONDS = 60
    execution = manual(make_instance(), 0)
    executions_dispatch_due(now=NOW)
    execution.refresh_from_db()
    first_task = execution.dispatch_task_id
    lose(execution)

    with time_machine.travel(NOW + timedelta(seconds=301), tick=False):
        assert executions_dispatch_due(now=NOW + timedelta(seconds=301)) == 1
        assert executions_dispatch_due(now=NOW + timedelta(seconds=302)) == 0
    execution.refresh_from_db()
    assert execution.dispatch_task_id not in ("", first_task)
    assert DBTaskResult.objects.get(pk=execution.dispatch_task_id).status == "READY"
    # A task a dead worker left RUNNING is closed, so the queue does not show it for good.
    assert not DBTaskResult.objects.filter(status="RUNNING").exists()


def test_a_manual_run_for_now_is_handed_over_when_its_transaction_commits(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        execution = execution_create_manual(instance=make_instance())
    assert queued() == [(execution.pk, None)]
    execution.refresh_from_db()
    assert execution.dispatched_at is not None


def test_a_manual_run_for_tomorrow_waits_for_the_tick(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        execution_create_manual(
            instance=make_instance(), expected_start_date=timezone.now() + timedelta(days=1)
        )
    assert queued() == []
