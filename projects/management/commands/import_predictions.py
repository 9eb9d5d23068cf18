"""`manage.py import_predictions SLUG FILE --model NAME [--version V] [--replace]`: import a model's
predictions in this process, with the same service code as an upload; all or nothing."""

from django.core.management.base import BaseCommand

from projects.importing import FORMATS
from projects.management.commands.import_gold import run_reference_import
from projects.models import ImportBatch


class Command(BaseCommand):
    help = (
        "Import a model's predictions (example_id, label, optional score, optional p_<label> probability "
        "columns) from CSV, TSV, JSONL or JSON. All or nothing; a model name and version already imported "
        "from a different file is refused without --replace."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the project's slug")
        parser.add_argument("file", help="path of the file to import")
        parser.add_argument("--model", required=True, help="the model's name")
        parser.add_argument("--model-version", dest="model_version", default="", help="the model's version")
        parser.add_argument("--replace", action="store_true", help="replace this model version's predictions")
        parser.add_argument("--format", choices=FORMATS, help="the file's format (default: its extension)")

    def handle(self, *args, slug, file, model, model_version, replace, format, **options):  # noqa: A002
        run_reference_import(
            self,
            slug=slug,
            file=file,
            file_format=format,
            kind=ImportBatch.Kind.PREDICTIONS,
            options={"model": model, "version": model_version, "replace": replace},
            what="predictions",
        )
