"""The alerts' periodic work, run with the scheduler's (see CRONJOBS)."""

import logging

from apps.alerts import services

logger = logging.getLogger(__name__)


def watch() -> int:
    """Alert on late and long runs, and hand over again deliveries whose task was lost."""
    opened = services.runs_watch()
    if resumed := services.deliveries_resume():
        logger.warning("alerts: handed %s lost delivery(ies) over again", resumed)
    return opened
