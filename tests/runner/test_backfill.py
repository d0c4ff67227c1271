"""Backfills: one run per past fire time of an instance's cron, previewed, capped, run in
fire-time order under the instance's concurrency policy, each told its fire time."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from apps.core.errors import TransitionError
from apps.runner.services import (
    backfill_cancel,
    backfill_create,
    backfill_plan,
    execution_claim,
    execution_claim_next,
    execution_fail,
    execution_succeed,
)
from apps.runner.supervisor import run
from apps.scheduling.models import ExecutionStatus
from apps.scheduling.selectors import backfills_with_progress
from apps.scheduling.services import instance_archive
from tests.factories import ExecutionFactory, make_instance, make_version
from tests.processes import running
from tests.runner import plugins
from tests.runner.conftest import wait_for_status

DAY = timedelta(days=1)
JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)


def days(count: int) -> datetime:
    """The end of a range from JAN_1 holding `count` fire times of a 09:00 Paris cron."""
    return JAN_1 + (count - 1) * DAY + timedelta(hours=12)


def daily_at_nine_in_paris(**fields):
    # Paused: no coming CRON run beside the backfill's (a backfill runs a paused instance too).
    return make_instance(
        cron="0 9 * * *", cron_timezone="Europe/Paris", cron_status="PAUSED", **fields
    )


@pytest.mark.django_db
def test_the_plan_counts_every_fire_time_in_the_range_both_ends_included():
    instance = daily_at_nine_in_paris()
    plan = backfill_plan(
        instance=instance, start_date=JAN_1 + timedelta(hours=8), end_date=JAN_1 + 9 * DAY
    )
    # 09:00 in Paris is 08:00 UTC in winter: Jan 1 08:00 is in, Jan 10 08:00 is past the end.
    assert (plan.count, plan.first, plan.last, plan.skipped) == (
        9,
        JAN_1 + timedelta(hours=8),
        JAN_1 + 8 * DAY + timedelta(hours=8),
        0,
    )


@pytest.mark.django_db
def test_fire_times_that_already_succeeded_are_left_out_unless_asked_for():
    instance = daily_at_nine_in_paris()
    second = JAN_1 + DAY + timedelta(hours=8)
    ExecutionFactory(instance=instance, status="SUCCEEDED", expected_start_date=second, **ended())
    ExecutionFactory(
        instance=instance, status="FAILED", expected_start_date=second + DAY, **ended()
    )
    asked = {"instance": instance, "start_date": JAN_1, "end_date": days(3)}
    plan = backfill_plan(**asked)
    assert (plan.count, plan.skipped) == (2, 1)
    assert second not in plan.fire_times and second + DAY in plan.fire_times
    assert backfill_plan(**asked, only_missing=False).count == 3


def ended():
    moment = JAN_1 + 30 * DAY
    return {"start_date": moment, "end_date": moment}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("start", "end", "field", "words"),
    [
        (JAN_1 + DAY, JAN_1, "end_date", "ends before it starts"),
        (JAN_1, datetime(2100, 1, 1, tzinfo=UTC), "end_date", "past fire times"),
        (JAN_1, JAN_1 + timedelta(hours=1), "start_date", "No fire time of 0 9 * * *"),
        (JAN_1 - 5 * 365 * DAY, JAN_1, "end_date", "at most 1,000 runs"),
    ],
    ids=["inverted", "future", "empty", "over-the-cap"],
)
def test_a_wrong_range_is_refused_naming_the_field_and_creates_nothing(start, end, field, words):
    instance = daily_at_nine_in_paris()
    with pytest.raises(ValidationError) as refused:
        backfill_create(instance=instance, start_date=start, end_date=end)
    assert words in refused.value.message_dict[field][0]
    assert not instance.backfills.exists()
    assert not instance.executions.filter(execution_type="MANUAL").exists()


@pytest.mark.django_db
def test_an_instance_without_cron_or_archived_has_no_backfill():
    with pytest.raises(TransitionError, match="has no cron"):
        backfill_plan(instance=make_instance(), start_date=JAN_1, end_date=JAN_1 + DAY)
    archived = daily_at_nine_in_paris()
    instance_archive(instance=archived)
    with pytest.raises(TransitionError, match="archived"):
        backfill_create(instance=archived, start_date=JAN_1, end_date=JAN_1 + DAY)


@pytest.mark.django_db
def test_under_allow_every_run_is_due_now_and_taken_in_fire_time_order():
    instance = daily_at_nine_in_paris(concurrency_policy="ALLOW")
    backfill = backfill_create(instance=instance, start_date=JAN_1, end_date=days(4))
    runs = list(backfill.executions.order_by("pk"))
    assert [run.fire_time for run in runs] == sorted(run.fire_time for run in runs)
    assert {run.execution_type for run in runs} == {"MANUAL"}
    assert all(run.waits_for_id is None for run in runs)
    assert not backfill.one_at_a_time
    assert [execution_claim_next() for _ in runs] == runs  # side by side, in order
    assert execution_claim_next() is None


@pytest.mark.django_db
def test_under_forbid_each_run_waits_for_the_one_before_and_the_end_of_one_starts_the_next():
    instance = daily_at_nine_in_paris(concurrency_policy="FORBID")
    backfill = backfill_create(instance=instance, start_date=JAN_1, end_date=days(3))
    first, second, third = backfill.executions.order_by("fire_time")
    assert (second.waits_for_id, third.waits_for_id) == (first.pk, second.pk)
    with pytest.raises(TransitionError) as waiting:
        execution_claim(execution=second)  # not even asked for by its id
    assert waiting.value.code == "waiting"
    assert execution_claim_next() == first
    assert execution_claim_next() is None  # the others wait

    execution_succeed(execution=first)
    assert execution_claim_next() == second
    assert execution_claim_next() is None


@pytest.mark.django_db
def test_under_forbid_the_next_run_waits_for_a_retry_not_for_the_failed_attempt():
    instance = daily_at_nine_in_paris(concurrency_policy="FORBID", max_retries=1)
    backfill = backfill_create(instance=instance, start_date=JAN_1, end_date=days(2))
    first, second = backfill.executions.order_by("fire_time")
    execution_fail(execution=execution_claim(execution=first), message="boom")
    retry = first.retry
    assert (retry.fire_time, retry.backfill_id) == (first.fire_time, backfill.pk)
    second.refresh_from_db()
    assert second.waits_for_id == retry.pk
    progress = backfills_with_progress().get(pk=backfill.pk)
    assert (progress.runs_pending, progress.runs_failed) == (2, 0)  # the retry and the second


@pytest.mark.django_db
def test_under_forbid_a_backfill_run_waits_for_a_cron_run_that_is_running():
    instance = daily_at_nine_in_paris(concurrency_policy="FORBID")
    cron_run = execution_claim(execution=ExecutionFactory(instance=instance))
    backfill = backfill_create(instance=instance, start_date=JAN_1, end_date=days(1))
    (run,) = backfill.executions.all()
    with pytest.raises(TransitionError) as waiting:
        execution_claim(execution=run)
    assert waiting.value.code == "waiting" and f"execution {cron_run.pk}" in waiting.value.message
    run.refresh_from_db()
    assert (run.status, run.waits_for_id) == ("PENDING", cron_run.pk)
    execution_succeed(execution=cron_run)
    execution_claim(execution=run)


@pytest.mark.django_db
def test_canceling_a_backfill_cancels_its_runs_that_have_not_started():
    instance = daily_at_nine_in_paris(concurrency_policy="FORBID")
    backfill = backfill_create(instance=instance, start_date=JAN_1, end_date=days(3))
    first = execution_claim(execution=backfill.executions.order_by("fire_time").first())
    assert backfill_cancel(backfill=backfill) == 2
    progress = backfills_with_progress().get(pk=backfill.pk)
    assert (progress.runs_running, progress.runs_canceled) == (1, 2)
    first.refresh_from_db()
    assert first.status == "RUNNING"


REPORTS_ITS_FIRE_TIME = plugins.plugin("""
started = time.time()
time.sleep(0.3)
return {"fire_time": context.fire_time.isoformat(), "started": started, "ended": time.time()}
""")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_run_a_forbid_backfill_one_at_a_time_in_order_each_told_its_fire_time():
    instance = daily_at_nine_in_paris(
        version=make_version(code=REPORTS_ITS_FIRE_TIME), concurrency_policy="FORBID"
    )
    backfill = backfill_create(instance=instance, start_date=JAN_1, end_date=days(3))
    runs = list(backfill.executions.order_by("fire_time"))
    with running("run_worker"), running("run_worker"):
        for run in runs:
            wait_for_status(run, ExecutionStatus.SUCCEEDED, timeout=90)
    results = [run.result for run in runs]
    assert [r["fire_time"] for r in results] == [run.fire_time.isoformat() for run in runs]
    for before, after in itertools.pairwise(results):
        assert before["ended"] <= after["started"]  # one at a time, in fire-time order


REPORTS_FIRE_TIME = plugins.plugin("""
return {"fire_time": context.fire_time and context.fire_time.isoformat()}
""")


@pytest.mark.django_db(transaction=True)
def test_a_cron_run_is_told_its_own_time_and_a_run_by_hand_none():
    instance = make_instance(version=make_version(code=REPORTS_FIRE_TIME))
    cron_run = ExecutionFactory(instance=instance, expected_start_date=JAN_1)
    by_hand = ExecutionFactory(instance=instance, execution_type="MANUAL")
    for execution in (cron_run, by_hand):
        run(execution.pk)
        execution.refresh_from_db()
    assert (cron_run.result, by_hand.result) == (
        {"fire_time": JAN_1.isoformat()},
        {"fire_time": None},
    )
