from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand

from apps.audit.context import from_command
from apps.transfers import services
from apps.transfers.commands import add_common_arguments, dataset_named, refused, report


class Command(BaseCommand):
    help = (
        "Export a dataset's data (all of it, filtered, or an SQL query's result) to CSV or "
        "JSON files, as POST /ls/api/batch/export does; prints the job's status object, "
        "with its download links once it has completed."
    )

    def add_arguments(self, parser):
        add_common_arguments(parser)
        parser.add_argument(
            "--content-type", default="text/plain", choices=["text/plain", "application/json"]
        )
        parser.add_argument("--header", action="store_true", help="A header row (CSV).")
        parser.add_argument("--sql", default="", help='DuckDB SQL: SELECT * FROM "Dataset" …')
        parser.add_argument("--filters", default="", help='{"field": "value", …}')
        parser.add_argument("--template", default="", help="Each row rendered by it (Jinja2).")

    @from_command
    def handle(self, *args, organisation, dataset, **options):
        chosen = dataset_named(organisation, dataset)
        try:
            job = services.export_submit(
                dataset=chosen,
                job_name=options["name"] or f"Export of {chosen.name}",
                content_type=options["content_type"],
                row_header=options["header"],
                template=options["template"],
                sql_query=options["sql"],
                filters=options["filters"],
                notification_email=options["email"],
            )
        except ValidationError as error:
            raise refused(error) from None
        report(self, job, options["wait"])
