from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from apps.audit.context import from_command
from apps.transfers import services
from apps.transfers.commands import add_common_arguments, dataset_named, refused, report
from apps.transfers.parameters import IMPORT_CONTENT_TYPES


class Command(BaseCommand):
    help = (
        "Import a CSV or JSON file into a dataset, as POST /ls/api/batch/import does: the "
        "job is queued for the workers; its status object is printed."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="The file to import.")
        add_common_arguments(parser)
        parser.add_argument(
            "--content-type",
            choices=list(IMPORT_CONTENT_TYPES),
            help="Default: application/json for .json/.jsonl files, plain/text (CSV) otherwise.",
        )
        parser.add_argument("--template", default="", help='{"Column": "field"}, or a header line.')
        parser.add_argument(
            "--merge", action="store_true", help="Update rows by key instead of replacing all."
        )

    @from_command
    def handle(self, *args, file, organisation, dataset, **options):
        if not file.is_file():
            raise CommandError(f"No file at {file}.")
        content_type = options["content_type"] or (
            "application/json" if file.suffix.lower() in (".json", ".jsonl") else "plain/text"
        )
        with file.open("rb") as opened:
            try:
                job = services.import_submit(
                    dataset=dataset_named(organisation, dataset),
                    upload=File(opened, name=file.name),
                    job_name=options["name"] or f"Import of {file.name}",
                    content_type=content_type,
                    template=options["template"],
                    merge=options["merge"],
                    notification_email=options["email"],
                )
            except ValidationError as error:
                raise refused(error) from None
        report(self, job, options["wait"])
