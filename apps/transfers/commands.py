"""What the import_file and export_dataset commands share: finding the dataset, waiting
for the job, and printing it as the docs' status object."""

import json
import time

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from apps.accounts.models import Organisation
from apps.ingestion.models import Dataset
from apps.transfers import selectors
from apps.transfers.models import TransferJob
from apps.transfers.serializers import JobStatusSerializer

WAIT_POLL_SECONDS = 1


def add_common_arguments(parser) -> None:
    parser.add_argument("--organisation", required=True, help="Organisation name.")
    parser.add_argument("--dataset", required=True, help="Dataset name (the docs' itemType).")
    parser.add_argument("--name", help="The job's name (default: the command's).")
    parser.add_argument("--email", default="", help="E-mail this address when the job ends.")
    parser.add_argument(
        "--wait", action="store_true", help="Wait for a worker to end the job, then print it."
    )


def dataset_named(organisation: str, dataset: str) -> Dataset:
    found = Dataset.objects.filter(organisation__name=organisation, name=dataset).first()
    if found is None:
        if not Organisation.objects.filter(name=organisation).exists():
            raise CommandError(f"No organisation is named {organisation!r}.")
        raise CommandError(f"{organisation} has no dataset named {dataset!r}.")
    return found


def refused(error: ValidationError) -> CommandError:
    return CommandError(
        "; ".join(f"{field}: {' '.join(reasons)}" for field, reasons in error.message_dict.items())
    )


def report(command, job: TransferJob, wait: bool) -> None:
    """Print the job's status object (once it has ended, if `wait`); fail the command if
    the job did not complete."""
    while wait and not job.is_ended:
        time.sleep(WAIT_POLL_SECONDS)  # a command waiting on a worker in another process
        job.refresh_from_db()
    shown = JobStatusSerializer(selectors.jobs_listed().get(pk=job.pk)).data
    command.stdout.write(json.dumps(shown, indent=2))
    if job.is_ended and job.status != "Completed":
        raise CommandError(f"The job is {job.status}: {job.reason}")
