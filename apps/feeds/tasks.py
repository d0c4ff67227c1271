"""A worker's turn on a feed, on whichever tasks backend is configured."""

from django.tasks import task


@task
def run_feed(feed_id: int) -> str:
    # Imported here: the worker uses the services, which enqueue this task.
    from apps.feeds import worker

    return worker.run_feed(feed_id)
