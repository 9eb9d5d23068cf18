"""`manage.py import_gold SLUG FILE`: import gold labels (`example_id,label`) in this process, with
the same service code as an upload; all or nothing, errors with line and column."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from projects.importing import FORMATS
from projects.models import ImportBatch, Project
from projects.services.imports import import_batch_create, import_batch_run


def run_reference_import(
    command: BaseCommand, *, slug: str, file: str, file_format, kind: str, options: dict, what: str
):
    """Run one import of `kind` here and print its result, or its errors and fail."""
    path = Path(file)
    if not path.is_file():
        raise CommandError(f"{file}: no such file")
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise CommandError(f"No project with the slug {slug!r}.")
    try:
        batch = import_batch_create(
            project=project,
            user=None,
            uploaded_file_or_path=path,
            source_name=path.name,
            file_format=file_format,
            kind=kind,
            options=options,
            run_in_background=False,
        )
    except ValidationError as exc:
        raise CommandError(" ".join(exc.messages)) from None
    batch = import_batch_run(batch_id=batch.id)
    if batch.status == ImportBatch.Status.SUCCEEDED:
        if (batch.summary or {}).get("unchanged"):
            command.stdout.write(f"{path.name} was already imported into {project.slug}: nothing changed.")
        else:
            command.stdout.write(
                f"Imported {path.name} into {project.slug}: {batch.rows_created} {what} written, "
                f"{batch.rows_skipped} unchanged."
            )
        return batch
    for error in batch.errors:
        where = f"line {error['line']}"
        if error["column"]:
            where += f", column {error['column']}"
        command.stderr.write(f"{where}: {error['message']}")
    if batch.error_count > len(batch.errors):
        command.stderr.write(f"... and {batch.error_count - len(batch.errors)} more errors")
    problems = f"{batch.error_count} error{'s' if batch.error_count != 1 else ''}"
    raise CommandError(f"{path.name}: {problems}; nothing was imported.")


class Command(BaseCommand):
    help = (
        "Import gold labels from a CSV, TSV, JSONL or JSON file with example_id and label. All or nothing: "
        "unknown examples or labels, or one example given two labels, write nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the project's slug")
        parser.add_argument("file", help="path of the file to import")
        parser.add_argument("--format", choices=FORMATS, help="the file's format (default: its extension)")

    def handle(self, *args, slug, file, format, **options):  # noqa: A002
        run_reference_import(
            self,
            slug=slug,
            file=file,
            file_format=format,
            kind=ImportBatch.Kind.GOLD,
            options={},
            what="gold labels",
        )
