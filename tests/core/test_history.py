"""A row's change and its history line, saved together (HistoryEntry.save_with_update):
one statement on PostgreSQL, a transaction elsewhere; either both or neither."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.scheduling.models import Execution, ExecutionStatus, ExecutionStatusChange
from tests.factories import make_instance


def new_execution() -> Execution:
    instance = make_instance()
    return Execution.objects.create(
        organisation=instance.organisation,
        instance=instance,
        execution_type="MANUAL",
        expected_start_date=timezone.now(),
    )


def entry(execution: Execution, **fields) -> ExecutionStatusChange:
    return ExecutionStatusChange(
        execution=execution, from_status="PENDING", to_status="RUNNING", **fields
    )


def pending(execution: Execution):
    return Execution.objects.filter(pk=execution.pk, status=ExecutionStatus.PENDING)


@pytest.mark.django_db
def test_the_entry_is_saved_only_when_the_row_changed():
    execution = new_execution()
    changes = {"status": ExecutionStatus.RUNNING}
    assert entry(execution, reason="Started.").save_with_update(pending(execution), changes) == (
        True,
        False,
    )
    assert entry(execution, reason="again").save_with_update(pending(execution), changes) == (
        False,
        False,
    )
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.RUNNING
    assert [change.reason for change in execution.status_changes.all()] == ["Started."]


@pytest.mark.django_db
def test_it_reports_whether_another_query_selects_rows_as_it_stood():
    execution, other = new_execution(), new_execution()
    others = Execution.objects.filter(pk=other.pk, status=ExecutionStatus.PENDING)
    changes = {"status": ExecutionStatus.RUNNING}
    assert entry(execution).save_with_update(pending(execution), changes, report=others) == (
        True,
        True,
    )
    assert entry(other).save_with_update(pending(other), changes, report=others.none()) == (
        True,
        False,
    )


@pytest.mark.django_db(transaction=True)
def test_an_entry_that_cannot_be_saved_leaves_the_row_unchanged():
    """Outside any transaction, as a worker calls it."""
    execution = new_execution()
    nobody = entry(execution, user_id=987654321)  # no such user: the foreign key refuses
    with pytest.raises(IntegrityError):
        nobody.save_with_update(pending(execution), {"status": ExecutionStatus.RUNNING})
    assert transaction.get_autocommit() and not connection.in_atomic_block
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.PENDING
    assert not execution.status_changes.exists()
