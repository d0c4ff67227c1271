from django.db import migrations

RUN_TASK = "apps.runner.tasks.run_execution"  # the task that carried runs until 0016


def forget_queued_run_tasks(apps, schema_editor):
    """Runs are no longer handed to the task queue: the workers take them from the
    executions table. Tasks still queued for them would only fail to import their gone
    function; the runs they carried are PENDING and are taken as any other."""
    DBTaskResult = apps.get_model("django_tasks_database", "DBTaskResult")
    DBTaskResult.objects.filter(task_path=RUN_TASK, status="READY").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0016_execution_queue"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [migrations.RunPython(forget_queued_run_tasks, migrations.RunPython.noop)]
