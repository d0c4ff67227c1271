import threading
import time

import pytest
from django.db import connection

from apps.runner.services import execution_create_manual
from apps.scheduling.models import Execution
from tests.factories import PROPERTIES, make_instance, make_version


@pytest.fixture
def execution_of():
    """A due MANUAL execution of a new instance running `code`."""

    def make(code: bytes, *, parameters=None, **instance_fields):
        version = make_version(code=code, properties=PROPERTIES)
        instance = make_instance(version=version, **instance_fields)
        return execution_create_manual(instance=instance, parameters=parameters)

    return make


def wait_for(condition, *, timeout: float = 20, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {message}")


def wait_for_status(execution: Execution, *statuses: str, timeout: float = 20) -> Execution:
    def reached():
        execution.refresh_from_db()
        return execution.status in statuses

    wait_for(
        reached, timeout=timeout, message=f"execution {execution.pk} to be {'/'.join(statuses)}"
    )
    return execution


class Background(threading.Thread):
    """A function run in a thread with its own database connection."""

    def __init__(self, function, *args):
        super().__init__(daemon=True)
        self.function, self.args, self.result = function, args, None

    def run(self):
        try:
            self.result = self.function(*self.args)
        finally:
            connection.close()
