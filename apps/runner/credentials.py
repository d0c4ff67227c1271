"""What plugin code uses to call this platform's ingestion API: a signed credential for its
execution, valid while the execution runs, within its organisation only."""

from dataclasses import dataclass
from datetime import timedelta

from django.core import signing

from apps.accounts.models import Role
from apps.scheduling.models import Execution, ExecutionStatus

SALT = "batchworks.execution-credential"


def execution_credential(execution: Execution) -> str:
    return signing.TimestampSigner(salt=SALT).sign_object({"execution": execution.pk})


@dataclass(frozen=True)
class RunningExecution:
    """Who is calling when plugin code calls: its execution, as an editor of its organisation."""

    execution: Execution
    role: Role = Role.EDITOR

    @property
    def organisation_id(self) -> int:
        return self.execution.organisation_id


def running_execution(credential: str) -> RunningExecution | None:
    """The execution the credential was made for, if it is still running."""
    try:
        payload = signing.TimestampSigner(salt=SALT).unsign_object(
            credential, max_age=timedelta(days=8)
        )
    except (signing.BadSignature, TypeError, ValueError):
        return None
    execution = (
        Execution.objects.select_related("user")
        .filter(pk=payload.get("execution"), status=ExecutionStatus.RUNNING)
        .first()
    )
    return RunningExecution(execution) if execution else None
