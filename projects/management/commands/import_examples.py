"""`manage.py import_examples SLUG FILE`: import examples in this process, with the same service
code as an upload, and print the result or the errors."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_slug

from projects.importing import UPLOAD_FORMATS
from projects.models import ImportBatch, Project
from projects.services.imports import import_batch_create, import_batch_run


class Command(BaseCommand):
    help = (
        "Import examples from a CSV, TSV, JSONL or JSON file, or a ZIP of images or audio with a "
        "manifest, into a project. All or nothing: a file "
        "with any invalid row writes nothing. Ids already in the project are skipped, not updated."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the project's slug")
        parser.add_argument("file", help="path of the file to import")
        parser.add_argument("--create", action="store_true", help="create the project if it does not exist")
        parser.add_argument(
            "--format", choices=UPLOAD_FORMATS, help="the file's format (default: its extension)"
        )

    def handle(self, *args, slug, file, create, format, **options):  # noqa: A002
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file")
        project = self._project(slug, create)
        try:
            batch = import_batch_create(
                project=project,
                user=None,
                uploaded_file_or_path=path,
                source_name=path.name,
                file_format=format,
                run_in_background=False,
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        batch = import_batch_run(batch_id=batch.id)
        if batch.status == ImportBatch.Status.SUCCEEDED:
            self.stdout.write(
                f"Imported {path.name} into {project.slug}: {batch.rows_created} examples created, "
                f"{batch.rows_skipped} skipped as already present."
            )
            return
        for error in batch.errors:
            where = f"line {error['line']}"
            if error["column"]:
                where += f", column {error['column']}"
            self.stderr.write(f"{where}: {error['message']}")
        if batch.error_count > len(batch.errors):
            self.stderr.write(f"... and {batch.error_count - len(batch.errors)} more errors")
        problems = f"{batch.error_count} error{'s' if batch.error_count != 1 else ''}"
        raise CommandError(f"{path.name}: {problems}; no examples were imported.")

    def _project(self, slug: str, create: bool) -> Project:
        project = Project.objects.filter(slug=slug).first()
        if project is not None:
            return project
        if not create:
            raise CommandError(f"No project with the slug {slug!r} (use --create to make it).")
        try:
            validate_slug(slug)
        except ValidationError:
            raise CommandError(f"{slug!r} is not a valid slug (letters, digits, - and _).") from None
        name = slug.replace("-", " ").replace("_", " ").strip().capitalize() or slug
        project = Project.objects.create(name=name, slug=slug)
        self.stdout.write(f"Created the project {slug!r}.")
        return project
