"""`manage.py import_annotations SLUG FILE [--create] [--format ...] [--from-name NAME]`: import
annotations in this process with the same job the import page and the API queue, then print what
was written and what the project's decision rules made of it."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from labeling.services.imports import FORMATS, annotations_import_file
from projects.models import ImportBatch


class Command(BaseCommand):
    help = (
        "Import annotations made elsewhere, all or nothing. CSV/TSV/JSONL: one row per annotation "
        "with example_id, rater, label, an optional text, other columns as metadata of created "
        "examples. labelstudio: a Label Studio JSON export with choices. Any printable rater name "
        "maps to one account (inactive, labeler). Unknown examples are created when a row has a "
        "text; unknown labels and examples without a text only with --create. A rater's existing "
        "annotation of an example is kept and the file's row skipped. The project's decision rules "
        "then run on the examples that got new annotations. Multi-label projects: a labels column "
        "(names separated by |; empty for none of these) or a JSON list of names in JSONL; Label "
        "Studio choices import as sets. With --create, a file of label sets makes the new project "
        "multi-label. Span projects: a JSONL spans list of {start, end, label} (code point offsets; "
        "[] for no entities) or Label Studio labels results (UTF-16 offsets); with --create, a file "
        "of spans makes a span project."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The project's slug.")
        parser.add_argument("file", help="The file to import (UTF-8, with or without a BOM).")
        parser.add_argument(
            "--create",
            action="store_true",
            help="Create the project if needed (its overlap taken from the file, majorities accepted), "
            "add unknown labels, and create examples that have no text.",
        )
        parser.add_argument(
            "--format",
            choices=FORMATS,
            help="Default: from the extension (.csv, .tsv, .jsonl, .json for Label Studio).",
        )
        parser.add_argument(
            "--from-name",
            default="",
            metavar="NAME",
            help="Label Studio: the choices (or labels, for spans) control to import when the labeling "
            "config has several.",
        )

    def handle(
        self, *args, slug: str, file: str, create: bool, format: str | None, from_name: str, **options
    ):  # noqa: A002
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file.")
        try:
            batch = annotations_import_file(
                slug=slug, path=path, create=create, file_format=format, from_name=from_name
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        if batch.status != ImportBatch.Status.SUCCEEDED:
            for error in batch.errors:
                where = f"line {error['line']}" if error["line"] else "file"
                if error["column"]:
                    where += f", column {error['column']}"
                self.stderr.write(f"{where}: {error['message']}")
            if batch.error_count > len(batch.errors):
                self.stderr.write(f"... and {batch.error_count - len(batch.errors)} more.")
            raise CommandError(f"{path.name}: {batch.error_count} error(s); nothing was imported.")
        for line in summary_lines(batch, slug):
            self.stdout.write(line)
        if batch.summary.get("agreement_report_error"):
            self.stderr.write(f"The agreement report could not be queued; run `agreement {slug}`.")


def summary_lines(batch: ImportBatch, slug: str) -> list[str]:
    summary = batch.summary
    lines = []
    project = summary.get("project")
    if project:
        lines.append(
            f"Created the project {slug!r} with overlap {project['overlap']} (the most common number of "
            f"raters per example in the file), accepting majorities of at least "
            f"{project['majority_threshold']:g}; change them in Settings."
        )
    lines.append(
        f"Imported {summary['annotations_created']} annotations into {slug}"
        f" ({summary['annotations_skipped']} skipped: the rater had already labelled the example)."
    )
    lines.append(
        f"Created {summary['examples_created']} examples ({summary['examples_without_text']} without "
        f"text), {summary['raters_created']} raters and {len(summary['labels_created'])} labels."
    )
    if summary["labels_created"]:
        lines.append("New labels: " + ", ".join(summary["labels_created"]))
    if summary["raters_renamed"]:
        shown = "; ".join(f"{name!r} -> {username}" for name, username in summary["raters_renamed"])
        lines.append(f"Raters whose names are not usernames: {shown}")
    if summary["cancelled"]:
        lines.append(f"{summary['cancelled']} annotations cancelled in Label Studio were not imported.")
    decisions = summary["decisions"]
    lines.append(
        f"Decisions: {decisions['unanimous'] + decisions['majority']} accepted "
        f"({decisions['unanimous']} unanimous, {decisions['majority']} majority), "
        f"{decisions['queued']} queued for review, {decisions['pending'] + decisions['more_raters']} "
        f"waiting for more raters, {decisions['kept']} decided by an SME and kept."
    )
    return lines
