"""`manage.py label_issues SLUG [--model NAME [--model-version V]] [--top N] [--dry-run] [--json]`:
rank the examples whose current label is likely wrong and send the top N to the review queue."""

import json

from django.core.management.base import BaseCommand, CommandError

from consistency.quality.selectors import prediction_set_by_name
from consistency.quality.services import label_issues_send
from core.errors import ApplicationError, NotFound
from projects.models import Project


class Command(BaseCommand):
    help = "Send the examples most likely mislabeled (by raters and, with --model, a model) to review."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--model", help="use this model's probabilities (its newest version by default)")
        parser.add_argument("--model-version", dest="model_version", default=None)
        parser.add_argument(
            "--top", type=int, default=None, help="how many to send (default: the project setting)"
        )
        parser.add_argument("--dry-run", action="store_true", help="list them, send nothing")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args, slug, model, model_version, top, dry_run, json: bool, **options):
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"No project with the slug {slug!r}.")
        try:
            prediction_set = (
                prediction_set_by_name(project=project, model=model, version=model_version) if model else None
            )
            result = label_issues_send(
                project=project, user=None, prediction_set=prediction_set, top_n=top, dry_run=dry_run
            )
        except (ApplicationError, NotFound) as exc:
            raise CommandError(exc.message) from None
        if json:
            self.stdout.write(_dumps(result))
            return
        verb = "Would send" if dry_run else "Sent"
        self.stdout.write(
            f"{result['n_issues']} likely label errors among {result['n_examples']} examples "
            f"({result['method']}). {verb} {len(result['issues'])} to review; "
            f"{result['already_in_review']} were already there."
        )
        for issue in result["issues"]:
            self.stdout.write(f"  example {issue['example_id']}: {issue['reason']}")


def _dumps(result: dict) -> str:
    return json.dumps(result, indent=2)
