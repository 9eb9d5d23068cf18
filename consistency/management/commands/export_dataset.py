"""`manage.py export_dataset SLUG --format jsonl|csv --out FILE [--release TAG]`: write a release's
clean labels to FILE. Without --release a new release is cut now with the default policy, by the
same service the background worker runs; the file written is the release's stored file, byte for byte.
"""

import shutil

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError

from consistency.release_selectors import release_file_get, release_get
from consistency.release_services import release_build
from core.errors import ApplicationError
from projects.models import Project


class Command(BaseCommand):
    help = "Write a dataset release (a new one by default) of a project to a file."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The project's slug.")
        parser.add_argument("--format", dest="file_format", choices=["jsonl", "csv"], default="jsonl")
        parser.add_argument("--out", required=True, help="The file to write.")
        parser.add_argument("--release", default="", metavar="TAG", help="An existing release's tag.")
        parser.add_argument("--tag", default="", help="The tag of the new release (default: the next vN).")

    def handle(self, *args, slug: str, file_format: str, out: str, release: str, tag: str, **options):
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"No project with slug {slug!r}.")
        try:
            if release:
                found = release_get(project=project, tag=release)
            else:
                found = release_build(project=project, user=None, tag=tag)
            name, _ = release_file_get(release=found, file_format=file_format)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        with default_storage.open(name, "rb") as source, open(out, "wb") as target:
            shutil.copyfileobj(source, target, 1024 * 1024)
        counts = found.counts or {}
        splits = ", ".join(f"{k} {v}" for k, v in counts.get("splits", {}).items())
        labels = ", ".join(f"{k} {v}" for k, v in counts.get("labels", {}).items())
        self.stdout.write(
            f"release {found.tag}: {found.n_items} examples ({splits}); labels: {labels or 'none'}\n"
            f"sha256 {found.sha256}"
        )
