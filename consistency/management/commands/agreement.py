"""`manage.py agreement SLUG [--json] [--slice FIELD]`: compute an agreement report now and print it.

The report is computed synchronously by the same service the background job uses and stored like
any other report, so `--json` prints exactly what GET /api/v1/projects/SLUG/agreement/ then returns.
The table's sentences come from `consistency.agreement.messages`, as the dashboard's do.
"""

import json

from django.core.management.base import BaseCommand, CommandError

from consistency.agreement.messages import comparison_heading, verdict_words
from consistency.agreement.models import AgreementReport
from consistency.agreement.selectors import COEFFICIENTS, TAG_SLICE, hlp_live
from consistency.agreement.services import agreement_report_compute
from projects.models import Project
from projects.selectors import metadata_fields


class Command(BaseCommand):
    help = "Compute inter-rater agreement for a project and print it (a table, or the JSON contract)."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The project's slug.")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
        parser.add_argument(
            "--slice", default="", metavar="FIELD", help="Also compute per value of this metadata field."
        )

    def handle(self, *args, slug: str, json: bool, slice: str, **options):  # noqa: A002
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"No project with slug {slug!r}.")
        if slice and slice != TAG_SLICE and slice not in metadata_fields(project=project):
            known = ", ".join(metadata_fields(project=project)) or "none"
            raise CommandError(
                f"{slice!r} is not a metadata field of this project's examples (known: {known})."
            )
        report = agreement_report_compute(project_id=project.pk, slice_field=slice)
        if report.status != AgreementReport.Status.SUCCEEDED:
            raise CommandError(report.error or "The report could not be computed.")
        if json:
            # As the API: the report, plus human-level performance on gold as it is now.
            live = hlp_live(project=project)
            self.stdout.write(_dumps({**report.result, "human_level_performance": live}))
        else:
            self.stdout.write(_table(report.result))


RELATION_WORDS = {
    "exact": "the same span",
    "label": "same place, other label",
    "boundary": "other boundaries",
    "boundary_and_label": "other boundaries and label",
    "missing": "nothing there",
}


def _dumps(result: dict) -> str:
    return json.dumps(result, indent=2, ensure_ascii=False)


def _number(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _table(result: dict) -> str:
    lines = [
        f"{result['n_annotations']} annotations, {result['n_items']} examples, {result['n_raters']} raters",
        "",
        f"{'coefficient':<20} {'value':>7}  95% interval",
    ]
    label_sets = result.get("distance") == "masi"
    spans = result.get("span_f1") is not None
    if label_sets:
        lines.insert(1, "label sets: Krippendorff's alpha uses the MASI distance")
    if spans:
        lines.insert(
            1,
            f"spans: {result['n_spans']} spans over {result['n_tokens']} tokens; the kappa and alpha "
            "below compare each token's label (or none)",
        )
    for name in COEFFICIENTS:
        estimate = result[name]
        ci = estimate["ci95"]
        interval = f"[{_number(ci[0])}, {_number(ci[1])}]" if ci else (estimate["reason"] or "")
        lines.append(f"{name.replace('_', ' '):<20} {_number(estimate['value']):>7}  {interval}")
    for comparison in result.get("before_after") or []:
        lines += ["", comparison_heading(comparison)]
        if not comparison["n_paired"]:
            continue
        for name in COEFFICIENTS:
            coefficient = comparison["coefficients"][name]
            difference = coefficient["difference"]
            ci = difference["ci95"]
            interval = f" [{_number(ci[0])}, {_number(ci[1])}]" if ci else ""
            verdict = verdict_words(coefficient, comparison)
            lines.append(
                f"  {name.replace('_', ' '):<20} {_number(coefficient['before']['value'])} -> "
                f"{_number(coefficient['after']['value'])}, change {_number(difference['value'])}{interval}: "
                f"{verdict}"
            )
    if spans:
        for match in ("exact", "overlap"):
            estimate = result["span_f1"][match]
            ci = estimate["ci95"]
            interval = f"[{_number(ci[0])}, {_number(ci[1])}]" if ci else (estimate["reason"] or "")
            lines.append(f"{'span F1 ' + match:<20} {_number(estimate['value']):>7}  {interval}")
        shares = result["breakdown"]["shares"]
        lines += [
            "",
            "each span against each other rater's: "
            + ", ".join(f"{RELATION_WORDS.get(kind, kind)} {share:.0%}" for kind, share in shares.items()),
            "",
            f"{'per label':<20} {'exact F1':>9} {'overlap F1':>11}  spans",
        ]
        for row in result["per_label"]:
            exact, overlap = _number(row["exact"]["value"]), _number(row["overlap"]["value"])
            lines.append(f"  {row['label']:<18} {exact:>9} {overlap:>11}  {row['n_ratings']}")
    if label_sets:
        lines += ["", f"{'per label (presence)':<20} {'alpha':>7} {'kappa':>7}"]
        for row in result["per_label"]:
            alpha, kappa = _number(row["alpha"]["value"]), _number(row["kappa"]["value"])
            lines.append(f"  {row['label']:<18} {alpha:>7} {kappa:>7}")
    for diagnostic in result["diagnostics"]:
        lines.append(f"! {diagnostic['message']}")
    return "\n".join(lines)
