"""`manage.py model_report SLUG --model NAME [--model-version V] [--slice FIELD | --tag] [--json]`:
a model's accuracy on gold against human-level performance, the gap per slice (largest first),
and its kappa against the consensus labels."""

import json

from django.core.management.base import BaseCommand, CommandError

from consistency.quality.selectors import model_report_build, prediction_set_by_name
from core.errors import Conflict, NotFound
from projects.models import Project
from projects.selectors import metadata_fields


def _share(figure: dict) -> str:
    if figure["value"] is None:
        return "–"
    return f"{figure['value']:.3f} [{figure['ci95'][0]:.3f}, {figure['ci95'][1]:.3f}]"


class Command(BaseCommand):
    help = "Report a model against gold and human-level performance, slice by slice."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--model", required=True, help="the model's name")
        parser.add_argument("--model-version", dest="model_version", default=None, help="default: the newest")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--slice", dest="slice_field", default="", help="a metadata field to slice by")
        group.add_argument("--tag", action="store_true", help="slice by tag (an example may be in several)")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, slug, model, model_version, slice_field, tag, json: bool, **options):
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"No project with the slug {slug!r}.")
        if slice_field and slice_field not in metadata_fields(project=project):
            raise CommandError(f"No example of {slug} has the metadata field {slice_field!r}.")
        try:
            prediction_set = prediction_set_by_name(project=project, model=model, version=model_version)
        except NotFound as exc:
            raise CommandError(str(exc)) from None
        try:
            report = model_report_build(
                project=project, prediction_set=prediction_set, slice_field=slice_field, tags=tag
            )
        except Conflict as exc:
            raise CommandError(exc.message) from None
        if json:
            self.stdout.write(_dumps(report))
            return
        self.stdout.write(f"{prediction_set.display_name} on {report['n_gold']} gold examples")
        self.stdout.write(f"  model accuracy {_share(report['model_accuracy'])}")
        self.stdout.write(f"  human level    {_share(report['hlp'])} ({report['n_hlp']} annotations)")
        self.stdout.write(f"  {report['gap_sentence']}")
        kappa = report["model_kappa_vs_consensus"]
        if kappa["value"] is not None:
            self.stdout.write(
                f"  kappa vs consensus {kappa['value']:.3f} [{kappa['ci95'][0]:.3f}, {kappa['ci95'][1]:.3f}] "
                f"on {kappa['n']} examples"
            )
        for row in report["slices"]:
            gap = (
                "–"
                if row["gap"] is None
                else f"{row['gap']:+.3f} [{row['gap_ci95'][0]:+.3f}, {row['gap_ci95'][1]:+.3f}]"
            )
            self.stdout.write(
                f"  {row['value']!s:<24} share {row['share']:.3f}  n_gold {row['n_gold']:>5}  "
                f"model {_share(row['model_accuracy'])}  HLP {_share(row['hlp'])}  gap {gap}  "
                f"{row['gap_verdict'] or ''}"
            )


def _dumps(report: dict) -> str:
    return json.dumps(report, indent=2)
