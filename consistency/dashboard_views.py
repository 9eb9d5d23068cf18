"""The agreement dashboard for managers and SMEs: the latest report, its history, and the button
that computes a new one. Charts are drawn by static/dashboard.js from json_script data; every
number is also in a plain table."""

from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from core.errors import NotFound
from core.htmx import render_page_or_partial
from projects.access import project_role_required
from projects.models import Role

from .agreement import (
    COEFFICIENTS,
    before_after,
    kappa_matrix,
    metadata_fields,
    report_get,
    report_history,
    report_latest_succeeded,
    report_pending,
)
from .report_services import agreement_report_request
from .review_selectors import review_queue_count

COEFFICIENT_NAMES = {
    "percent_agreement": "Percent agreement",
    "fleiss_kappa": "Fleiss' kappa",
    "krippendorff_alpha": "Krippendorff's alpha",
    "gwet_ac1": "Gwet's AC1",
}
REVIEWERS = (Role.MANAGER, Role.SME)


def _coefficient_rows(row: dict) -> list[dict]:
    return [{"key": key, "name": COEFFICIENT_NAMES[key], **(row.get(key) or {})} for key in COEFFICIENTS]


def _before_after_rows(result: dict) -> dict | None:
    comparison = before_after(result=result)
    if comparison is not None:
        for row in comparison["coefficients"]:
            row["name"] = COEFFICIENT_NAMES[row["key"]]
            row["cells"] = [row["before"], row["after"]]
    return comparison


@require_GET
@project_role_required(*REVIEWERS)
def agreement_dashboard(request, slug):
    project = request.project
    fields = metadata_fields(project=project)
    # Only a key the project's examples use is accepted; anything else means "no slice".
    chosen = request.GET.get("slice", "")
    chosen = chosen if chosen in fields else ""
    report = report_latest_succeeded(project=project)
    result = report.result if report else None
    context = {
        "project": project,
        "report": report,
        "result": result,
        "pending": report_pending(project=project),
        "fields": fields,
        "chosen_slice": chosen or (result or {}).get("slice_field") or "",
        "names": COEFFICIENT_NAMES,
        "is_manager": request.membership.role == Role.MANAGER,
        "open_disagreements": review_queue_count(project=project),
        "relabel_scopes": [
            ("disagreements", "The examples whose disagreements led to the change"),
            ("older", "Every example labeled under an older version"),
            ("sample", "A random sample of those"),
        ],
    }
    if result:
        history = report_history(project=project)
        context.update(
            {
                "coefficients": _coefficient_rows(result),
                "versions": [
                    {
                        "version": row["version"],
                        "n_items": row["n_items"],
                        "n_annotations": row["n_annotations"],
                        "coefficients": _coefficient_rows(row),
                    }
                    for row in result["by_guideline_version"]
                ],  # fmt: skip
                "history_rows": [{**row, "coefficients": _coefficient_rows(row)} for row in history],
                "slices": result.get("slices"),
                "slice_rows": [
                    {"value": row["value"], "n_items": row["n_items"], "coefficients": _coefficient_rows(row)}
                    for row in (result.get("slices") or {}).get("values", [])
                ],
                "before_after": _before_after_rows(result),
                "slice_outdated": bool(chosen) and chosen != result.get("slice_field"),
                "matrix": kappa_matrix(result=result),
                "chart_data": {
                    "coefficients": list(COEFFICIENTS),
                    "names": COEFFICIENT_NAMES,
                    "history": history,
                    "versions": [
                        {"version": row["version"], **{k: row[k] for k in COEFFICIENTS}}
                        for row in result["by_guideline_version"]
                    ],
                    "per_label": [
                        {"label": row["label"], "value": row["value"], "ci95": row["ci95"]}
                        for row in result["per_label"]
                    ],
                },
            }
        )
    return render(request, "consistency/dashboard.html", context)


@require_POST
@project_role_required(*REVIEWERS)
def agreement_report_create(request, slug):
    report = agreement_report_request(
        project=request.project, user=request.user, slice_field=request.POST.get("slice", "")
    )
    if request.htmx:
        return _status_response(request, report)
    url = reverse("consistency:agreement_dashboard", args=[slug])
    if report.slice_field:
        url += "?" + urlencode({"slice": report.slice_field})
    return redirect(url)


@require_GET
@project_role_required(*REVIEWERS)
def agreement_report_status(request, slug):
    """The progress partial the dashboard polls every 2 s while a report is being computed."""
    report = None
    report_id = request.GET.get("report", "")
    if report_id.isdigit():
        try:
            report = report_get(project=request.project, report_id=int(report_id))
        except NotFound:
            report = None
    if report is None:
        report = report_pending(project=request.project)
    return _status_response(request, report)


def _status_response(request, report):
    response = render_page_or_partial(
        request,
        page="consistency/dashboard_status.html",
        partial="consistency/partials/agreement_status.html",
        context={"project": request.project, "pending": report},
    )
    if request.htmx and report is not None and report.is_finished and request.GET.get("report"):
        # The report the page was waiting for is ready: reload the page to show it.
        response["HX-Refresh"] = "true"
    return response
