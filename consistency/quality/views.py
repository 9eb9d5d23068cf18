"""Pages of the data-quality loop for managers and SMEs: gold (the draw, the SME's labels, the
honeypot rate), the imported models, and a model's report with the gap-to-human-level chart
(drawn by static/quality.js from json_script data; every number is also in the table)."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from consistency.agreement.selectors import hlp_live
from consistency.quality.selectors import (
    gold_overview,
    gold_waiting,
    model_report_build,
    prediction_set_get,
    prediction_set_list,
)
from consistency.quality.services import label_issues_send
from core.errors import ApplicationError, Conflict, NotFound
from projects.access import project_role_required
from projects.models import Role
from projects.selectors import metadata_fields
from projects.services.gold import gold_label_set, gold_sample_draw

REVIEWERS = (Role.MANAGER, Role.SME)


@require_GET
@project_role_required(*REVIEWERS)
def quality_overview(request, slug):
    project = request.project
    return render(
        request,
        "consistency/quality.html",
        {
            "project": project,
            "gold": gold_overview(project=project),
            "waiting": gold_waiting(project=project),
            "labels": list(project.labels.order_by("position", "pk")),
            "models": prediction_set_list(project=project),
            "hlp": hlp_live(project=project),
            "is_manager": request.membership.role == Role.MANAGER,
        },
    )


def _number(value: str, kind):
    try:
        return kind(value) if value not in (None, "") else None
    except ValueError:
        raise ApplicationError(f"{value!r} is not a number.") from None


@require_POST
@project_role_required(Role.MANAGER)
def gold_draw(request, slug):
    try:
        drawn = gold_sample_draw(
            project=request.project,
            user=request.user,
            size=_number(request.POST.get("size"), int),
            share=_number(request.POST.get("share"), float),
            seed=_number(request.POST.get("seed"), int),
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Drew {len(drawn)} examples for an SME to label as gold.")
    return redirect("consistency:quality", slug=request.project.slug)


@require_POST
@project_role_required(*REVIEWERS)
def gold_label(request, slug, example_id):
    try:
        gold_label_set(
            project=request.project,
            user=request.user,
            example_id=example_id,
            label_id=request.POST.get("label"),
        )
    except NotFound:
        raise Http404("Not drawn for gold.") from None
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("consistency:quality", slug=request.project.slug)


@require_GET
@project_role_required(*REVIEWERS)
def model_report_page(request, slug, model_id):
    project = request.project
    try:
        prediction_set = prediction_set_get(project=project, prediction_set_id=model_id)
    except NotFound:
        raise Http404("Model not found.") from None
    fields = metadata_fields(project=project)
    chosen = request.GET.get("slice", "")
    tags = chosen == "tag"
    field = chosen if chosen in fields else ""
    try:
        report = model_report_build(
            project=project, prediction_set=prediction_set, slice_field=field, tags=tags
        )
    except Conflict as exc:
        messages.error(request, exc.message)
        return redirect("consistency:quality", slug=slug)
    chart = {
        "slices": [
            {
                "value": str(row["value"]),
                "gap": row["gap"],
                "gap_ci95": row["gap_ci95"],
                "share": row["share"],
            }
            for row in report["slices"]
        ]
    }
    return render(
        request,
        "consistency/model_report.html",
        {
            "project": project,
            "model": prediction_set,
            "report": report,
            "fields": fields,
            "chosen": "tag" if tags else field,
            "chart": chart,
        },
    )


@require_POST
@project_role_required(Role.MANAGER)
def label_issues_run(request, slug):
    """The page's button: rank, and send the top N likely label errors to the review queue."""
    project = request.project
    prediction_set = None
    if request.POST.get("model"):
        try:
            prediction_set = prediction_set_get(project=project, prediction_set_id=request.POST["model"])
        except NotFound:
            raise Http404("Model not found.") from None
    try:
        result = label_issues_send(project=project, user=request.user, prediction_set=prediction_set)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"{result['n_issues']} likely label errors found among {result['n_examples']} examples; "
            f"{result['sent']} sent to the review queue ({result['already_in_review']} were already there).",
        )
    return redirect("consistency:quality", slug=project.slug)
