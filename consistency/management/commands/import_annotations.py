"""`manage.py import_annotations SLUG FILE [--create] [--format csv|jsonl|labelstudio]`."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from consistency.annotation_import import (
    FORMATS,
    MAX_ERRORS_SHOWN,
    AnnotationImportError,
    annotation_file_read,
    annotations_import,
    format_from_name,
)
from consistency.report_services import agreement_refresh_soon
from core.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Import annotations made elsewhere, all or nothing. CSV/JSONL: one row per annotation with "
        "example_id, rater, label, optional text, other columns as metadata of created examples. "
        "labelstudio: a Label Studio JSON export with choices. Unknown raters become inactive accounts "
        "with a labeler membership; unknown examples are created when a text is given; unknown labels "
        "are an error unless --create. A rater's existing annotation of an example is kept and the "
        "file's row skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The project's slug.")
        parser.add_argument("file", help="The file to import (UTF-8, with or without a BOM).")
        parser.add_argument(
            "--create", action="store_true", help="Create the project if needed and add unknown labels."
        )
        parser.add_argument(
            "--format", choices=FORMATS, help="Default: from the extension (.csv, .jsonl, .json)."
        )

    def handle(self, *args, slug: str, file: str, create: bool, format: str | None, **options):  # noqa: A002
        path = Path(file)
        file_format = format or format_from_name(path.name)
        if file_format is None:
            raise CommandError(
                "Cannot tell the format from the file name; pass --format csv, jsonl or labelstudio."
            )
        try:
            with path.open("rb") as stream:
                rows, errors = annotation_file_read(stream, file_format)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror or exc}.") from None
        try:
            if errors:
                raise AnnotationImportError(errors)
            if not rows:
                raise CommandError("The file has no annotations.")
            summary = annotations_import(slug=slug, rows=rows, create=create)
        except AnnotationImportError as exc:
            for error in exc.errors[:MAX_ERRORS_SHOWN]:
                self.stderr.write(str(error))
            if len(exc.errors) > MAX_ERRORS_SHOWN:
                self.stderr.write(f"... and {len(exc.errors) - MAX_ERRORS_SHOWN} more.")
            raise CommandError(exc.message) from None
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"Imported {summary.annotations_created} annotations into {summary.project.slug}"
            f" ({summary.annotations_skipped} skipped: the rater had already labelled the example;"
            f" {summary.examples_created} examples, {len(summary.raters_created)} raters"
            f" and {len(summary.labels_created)} labels created)."
        )
        if summary.labels_created:
            self.stdout.write("New labels: " + ", ".join(summary.labels_created))
        if summary.annotations_created:
            try:
                agreement_refresh_soon(project_id=summary.project.pk, debounce_seconds=0)
            except Exception as exc:  # the import is committed; a missing broker must not hide that
                self.stderr.write(
                    f"The agreement report could not be queued ({exc}); run `agreement {slug}`."
                )
