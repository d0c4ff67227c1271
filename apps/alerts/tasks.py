"""Alerts are delivered by the workers, never in a web request."""

from django.tasks import task


@task
def deliver(alert_id: int) -> str:
    from apps.alerts import delivery

    return delivery.deliver(alert_id)
