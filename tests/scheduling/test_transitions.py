from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.core.errors import TransitionError
from apps.runner.services import (
    execution_cancel,
    execution_claim,
    execution_create_manual,
    execution_fail,
    execution_stopped,
    execution_succeed,
)
from apps.scheduling.models import (
    CronStatus,
    Execution,
    ExecutionStatus,
    ExecutionType,
    InstanceAction,
)
from apps.scheduling.services import (
    instance_archive,
    instance_pause,
    instance_resume,
    instance_update,
)
from tests.factories import ExecutionFactory, UserFactory, make_instance

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def scheduled_instance(**kwargs):
    return make_instance(cron="0 2 * * *", cron_status=CronStatus.ACTIVE, **kwargs)


def statuses(*executions):
    for execution in executions:
        execution.refresh_from_db()
    return [execution.status for execution in executions]


def test_pause_cancels_exactly_the_coming_cron_runs():
    instance = scheduled_instance()
    other = scheduled_instance(name="Other")
    coming = [
        ExecutionFactory(instance=instance, expected_start_date=NOW + timedelta(days=d))
        for d in (1, 2)
    ]
    manual = ExecutionFactory(instance=instance, execution_type=ExecutionType.MANUAL)
    running = ExecutionFactory(instance=instance, status=ExecutionStatus.RUNNING, start_date=NOW)
    done = ExecutionFactory(
        instance=instance,
        status=ExecutionStatus.SUCCEEDED,
        start_date=NOW,
        end_date=NOW,
        expected_start_date=NOW - timedelta(days=1),
    )
    others_coming = ExecutionFactory(instance=other)
    pauser = UserFactory()

    instance_pause(instance=instance, user=pauser)

    assert statuses(*coming) == [ExecutionStatus.CANCELED] * 2
    assert statuses(manual, running, done, others_coming) == [
        ExecutionStatus.PENDING,
        ExecutionStatus.RUNNING,
        ExecutionStatus.SUCCEEDED,
        ExecutionStatus.PENDING,
    ]
    assert all(execution.end_date for execution in coming)
    history = coming[0].status_changes.get()
    assert (history.from_status, history.to_status, history.user) == ("PENDING", "CANCELED", pauser)
    assert history.reason == "The instance was paused."
    instance.refresh_from_db()
    assert instance.cron_status == CronStatus.PAUSED
    assert instance.events.last().action == InstanceAction.PAUSED


def test_pausing_twice_or_without_a_cron_is_refused():
    instance = scheduled_instance()
    instance_pause(instance=instance)
    with pytest.raises(
        TransitionError, match="Only an ACTIVE scheduled instance can be paused; this one is PAUSED"
    ):
        instance_pause(instance=instance)
    with pytest.raises(TransitionError, match="not scheduled"):
        instance_pause(instance=make_instance(name="On demand"))


def test_resume_makes_a_paused_instance_active_and_refuses_an_active_one():
    instance = scheduled_instance()
    with pytest.raises(TransitionError, match="Only a PAUSED instance can be resumed"):
        instance_resume(instance=instance)
    instance_pause(instance=instance)
    instance_resume(instance=instance)
    instance.refresh_from_db()
    assert instance.cron_status == CronStatus.ACTIVE
    assert [e.action for e in instance.events.all()] == ["CREATED", "PAUSED", "RESUMED"]


def test_archive_cancels_every_pending_execution_and_ends_the_instance():
    instance = scheduled_instance()
    cron = ExecutionFactory(instance=instance)
    manual = ExecutionFactory(instance=instance, execution_type=ExecutionType.MANUAL)
    running = ExecutionFactory(instance=instance, status=ExecutionStatus.RUNNING, start_date=NOW)

    instance_archive(instance=instance)

    assert statuses(cron, manual, running) == ["CANCELED", "CANCELED", "RUNNING"]
    for refused in (instance_archive, instance_pause, instance_resume, execution_create_manual):
        with pytest.raises(TransitionError, match="archived"):
            refused(instance=instance)
    with pytest.raises(TransitionError, match="archived"):
        instance_update(instance=instance, name="Renamed")


def test_a_manual_execution_runs_now_or_later():
    instance = make_instance()
    user = UserFactory()
    with time_machine.travel(NOW, tick=False):
        now = execution_create_manual(instance=instance, user=user)
        later = execution_create_manual(
            instance=instance, expected_start_date=NOW + timedelta(hours=3)
        )
    assert (now.status, now.execution_type, now.expected_start_date, now.user) == (
        "PENDING",
        "MANUAL",
        NOW,
        user,
    )
    assert later.expected_start_date == NOW + timedelta(hours=3)
    assert not now.status_changes.exists()  # history records changes; creation is created_at
    assert now.external_model_name == "PUBLIC_INTEGRATION_BATCH"
    assert now.external_model_id == str(instance.pk)
    assert now.job_type == "BATCH_INTEGRATION"


def test_a_manual_execution_a_little_in_the_past_starts_now(settings):
    settings.MANUAL_EXECUTION_PAST_TOLERANCE_SECONDS = 60
    with time_machine.travel(NOW, tick=False):
        execution = execution_create_manual(
            instance=make_instance(), expected_start_date=NOW - timedelta(seconds=30)
        )
    assert execution.expected_start_date == NOW


def test_a_manual_execution_in_the_past_beyond_the_tolerance_is_refused(settings):
    settings.MANUAL_EXECUTION_PAST_TOLERANCE_SECONDS = 60
    with pytest.raises(ValidationError) as caught:
        execution_create_manual(
            instance=make_instance(), expected_start_date=NOW - timedelta(hours=1)
        )
    assert "is in the past" in caught.value.message_dict["expected_start_date"][0]
    assert not Execution.objects.exists()


def test_parameters_must_be_an_object():
    with pytest.raises(ValidationError) as caught:
        execution_create_manual(instance=make_instance(), parameters=["rows", 10])
    assert caught.value.message_dict == {
        "parameters": ["Parameters are a JSON object of names to values."]
    }


def test_cancel_ends_a_pending_execution_at_once():
    execution = ExecutionFactory()
    user = UserFactory()
    execution_cancel(execution=execution, user=user, reason="Not today.")
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.CANCELED and execution.end_date
    assert execution.status_changes.get().reason == "Not today."


def test_cancel_asks_a_running_execution_to_stop_and_it_ends_canceled():
    execution = ExecutionFactory(status=ExecutionStatus.RUNNING, start_date=NOW)
    user = UserFactory()
    execution_cancel(execution=execution, user=user)
    assert (execution.status, execution.cancel_requested_by) == ("RUNNING", user)
    with pytest.raises(TransitionError, match="already asked"):
        execution_cancel(execution=execution)
    execution_stopped(execution=execution)
    assert execution.status == ExecutionStatus.CANCELED
    assert execution.status_changes.get().user == user


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED", "CANCELED"])
def test_cancel_of_a_finished_execution_is_refused(status):
    execution = ExecutionFactory(status=status, start_date=NOW, end_date=NOW)
    with pytest.raises(TransitionError, match=f"already {status}"):
        execution_cancel(execution=execution)


def test_a_due_execution_is_claimed_once():
    execution = ExecutionFactory(expected_start_date=NOW - timedelta(seconds=1))
    execution_claim(execution=execution)
    assert execution.status == ExecutionStatus.RUNNING and execution.start_date
    with pytest.raises(TransitionError, match="is RUNNING"):
        execution_claim(execution=Execution.objects.get(pk=execution.pk))


def test_an_execution_not_yet_due_is_not_claimed():
    execution = ExecutionFactory(expected_start_date=NOW + timedelta(hours=1))
    with pytest.raises(TransitionError, match="not yet due"):
        execution_claim(execution=execution)
    assert statuses(execution) == ["PENDING"]


def test_a_running_execution_succeeds_or_fails_with_its_message():
    ok = execution_claim(execution=ExecutionFactory(expected_start_date=NOW))
    ko = execution_claim(execution=ExecutionFactory(expected_start_date=NOW - timedelta(minutes=1)))
    execution_succeed(execution=ok, result={"imported_rows": 3})
    execution_fail(execution=ko, message="Connection refused")
    assert (ok.status, ok.result, ok.duration is not None) == (
        "SUCCEEDED",
        {"imported_rows": 3},
        True,
    )
    assert (ko.status, ko.error) == ("FAILED", {"message": "Connection refused"})
    assert [c.to_status for c in ko.status_changes.all()] == ["RUNNING", "FAILED"]


@pytest.mark.parametrize("finish", [execution_succeed, execution_stopped])
def test_only_a_running_execution_can_finish(finish):
    execution = ExecutionFactory()
    with pytest.raises(TransitionError, match="only a RUNNING execution"):
        finish(execution=execution)
    assert statuses(execution) == ["PENDING"]


def test_a_new_schedule_cancels_the_runs_the_old_one_planned():
    instance = scheduled_instance()
    coming = ExecutionFactory(instance=instance)
    instance_update(instance=instance, cron="30 4 * * *")
    assert statuses(coming) == ["CANCELED"]
    assert coming.status_changes.get().reason == "The instance's schedule changed."


def test_a_rename_keeps_the_coming_runs():
    instance = scheduled_instance()
    coming = ExecutionFactory(instance=instance)
    instance_update(instance=instance, name="Renamed", ram_size="LARGE")
    instance.refresh_from_db()
    assert (instance.name, instance.ram_size) == ("Renamed", "LARGE")
    assert statuses(coming) == ["PENDING"]


def test_updating_cron_status_pauses_and_resumes_through_the_same_rules():
    instance = scheduled_instance()
    coming = ExecutionFactory(instance=instance)
    instance_update(instance=instance, cron_status=CronStatus.PAUSED)
    assert statuses(coming) == ["CANCELED"]
    instance_update(instance=instance, cron_status=CronStatus.ACTIVE)
    assert [e.action for e in instance.events.all()] == ["CREATED", "PAUSED", "RESUMED"]


def test_clearing_the_cron_clears_its_status_and_coming_runs():
    instance = scheduled_instance()
    coming = ExecutionFactory(instance=instance)
    instance_update(instance=instance, cron="")
    instance.refresh_from_db()
    assert (instance.cron, instance.cron_status) == ("", None)
    assert statuses(coming) == ["CANCELED"]
