"""Handing rows to the task queue once, and again only when that hand-over is known lost.

A row a worker must pick up (a batch, a transfer job, a feed, an alert) records the id
of the task that carries it. It is handed over again only when that task is gone (the
queue lost it), ended without the row being taken, or was taken by a worker that died
before claiming the row; never merely because the workers are behind, which would fill
the queue with duplicates exactly when it is already long. (Executions are not handed
over: workers take them from their table, apps.runner.worker.)"""

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from django.tasks import Task, TaskResultStatus
from django.tasks.exceptions import TaskResultDoesNotExist
from django.utils import timezone
from django_tasks.exceptions import TaskResultDoesNotExist as BackportedTaskResultDoesNotExist
from django_tasks_db.backend import DatabaseBackend


def enqueue(task: Task, pk: int | str, *, run_after: datetime | None = None) -> str:
    """Queue `task` for the row `pk`; returns the task's id, to record on the row."""
    if run_after is not None:
        task = task.using(run_after=run_after)
    return str(task.enqueue(pk).id)


def lost(task: Task, task_ids: Iterable[str], *, stuck_after: timedelta) -> set[str]:
    """Of these hand-overs (task ids; empty when none was recorded), those known lost: no
    such task, a task that ended, or one RUNNING for longer than `stuck_after` while its
    row still waits (its worker died between taking the task and claiming the row)."""
    task_ids = set(task_ids)
    states = _states(task, task_ids - {""})
    stuck_since = timezone.now() - stuck_after
    return {
        task_id
        for task_id in task_ids
        if (state := states.get(task_id)) is None
        or state[0] in (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)
        or (state[0] == TaskResultStatus.RUNNING and (state[1] or stuck_since) < stuck_since)
    }


def hand_over_lost(task: Task, waiting: list, dispatch: Callable) -> list:
    """Of `waiting` rows (each recording its `dispatch_task_id`), hand over again, with
    `dispatch`, those whose hand-over is lost; returns the others, merely waiting behind
    others, for the caller to look at again later."""
    from apps.core import leases

    gone = lost(task, [row.dispatch_task_id for row in waiting], stuck_after=leases.timeout())
    for row in waiting:
        if row.dispatch_task_id in gone:
            dispatch(row)
    return [row for row in waiting if row.dispatch_task_id not in gone]


def abandon(task: Task, task_id: str, reason: str) -> None:
    """Close the record of a task whose worker died while running it, so the queue does not
    show it RUNNING for good. (RQ notices its own dead workers; the database backend
    cannot, having no heartbeat of its own.)"""
    if not task_id or not isinstance(task.get_backend(), DatabaseBackend):
        return
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.filter(id=task_id, status=TaskResultStatus.RUNNING).update(
        status=TaskResultStatus.FAILED,
        finished_at=timezone.now(),
        exception_class_path="apps.core.handover.WorkerLost",
        traceback=reason,
    )


def _states(task: Task, task_ids: set[str]) -> dict[str, tuple[str, datetime | None]]:
    """Each known task's status and start, in one query on the database backend."""
    if isinstance(task.get_backend(), DatabaseBackend):
        from django_tasks_db.models import DBTaskResult

        rows = DBTaskResult.objects.filter(id__in=[i for i in task_ids if _is_uuid(i)])
        return {
            str(task_id): (str(status), started_at)
            for task_id, status, started_at in rows.values_list("id", "status", "started_at")
        }
    states = {}
    for task_id in task_ids:
        try:
            result = task.get_result(task_id)
        except (TaskResultDoesNotExist, BackportedTaskResultDoesNotExist):  # RQ's is the backport's
            continue
        states[task_id] = (str(result.status), result.started_at)
    return states


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False
