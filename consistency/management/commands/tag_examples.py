"""`manage.py tag_examples SLUG TAG (--ids 1,2 | --external-ids-file FILE | --filter QUERY) [--remove]`:
add or remove one tag on many examples, all or nothing."""

from pathlib import Path
from urllib.parse import parse_qsl

from django.core.management.base import BaseCommand, CommandError
from django.http import QueryDict

from consistency.examples.browser import example_ids_matching
from core.errors import ApplicationError
from projects.models import Project
from projects.services.tags import example_tags_bulk


class Command(BaseCommand):
    help = "Tag (or untag) many examples: by ids, by a file of external ids, or by the browser's filters."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("tag")
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--ids", help="example ids, separated by commas")
        which.add_argument("--external-ids-file", help="a file with one external id per line")
        which.add_argument(
            "--filter", help='the browser\'s filters as in its address, e.g. "status=queued&label=3"'
        )
        parser.add_argument("--remove", action="store_true", help="remove the tag instead")

    def handle(self, *args, slug, tag, ids, external_ids_file, filter, remove, **options):  # noqa: A002
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"No project with the slug {slug!r}.")
        try:
            example_ids = self._ids(project, ids, external_ids_file, filter)
            result = example_tags_bulk(
                project=project, user=None, name=tag, example_ids=example_ids, remove=remove
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        verb = "Removed" if remove else "Added"
        self.stdout.write(
            f"{verb} {tag!r} on {result['changed']} examples ({result['unchanged']} unchanged)."
        )

    def _ids(self, project, ids, external_ids_file, query) -> list[int]:
        if ids is not None:
            try:
                return [int(part) for part in ids.split(",") if part.strip()]
            except ValueError:
                raise CommandError("--ids takes whole numbers separated by commas.") from None
        if query is not None:
            params = QueryDict(mutable=True)
            for key, value in parse_qsl(query, keep_blank_values=True):
                params[key] = value
            found = example_ids_matching(project=project, params=params)
            if not found:
                raise CommandError("No example matches these filters.")
            return found
        path = Path(external_ids_file)
        if not path.is_file():
            raise CommandError(f"{external_ids_file}: no such file")
        wanted = {}
        for line, value in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if value.strip():
                wanted.setdefault(value.strip(), line)
        known = dict(project.examples.filter(external_id__in=list(wanted)).values_list("external_id", "pk"))
        missing = [(line, external) for external, line in wanted.items() if external not in known]
        if missing:
            line, external = missing[0]
            raise CommandError(f"line {line}: no example of {project.slug} has the id {external!r}")
        return list(known.values())
