"""RQ's own cost per job: a no-op, drained by `rq worker` (a fork per job). Imports
nothing, so the worker measured is RQ alone."""


def no_op_job() -> None:
    """Does nothing."""
