"""The agreement dashboard for managers and SMEs: the latest report, its history, and the button
that computes a new one. Charts are drawn by static/dashboard.js from json_script data; every
number is also in a plain table."""

from datetime import datetime

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from consistency.agreement.messages import COEFFICIENT_NAMES, coefficient_names, verdict_text
from consistency.agreement.selectors import (
    COEFFICIENTS,
    TAG_SLICE,
    hlp_live,
    kappa_matrix,
    report_get,
    report_history,
    report_latest_failed,
    report_latest_succeeded,
    report_pending,
)
from consistency.agreement.services import agreement_report_request
from consistency.review.models import RelabelRequest
from consistency.review.selectors import review_queue_count
from core.errors import Conflict, NotFound
from core.htmx import render_page_or_partial, wants_partial
from core.jobs.services import job_retry
from projects.access import project_role_required
from projects.models import Role
from projects.selectors import metadata_fields, project_has_tags

REVIEWERS = (Role.MANAGER, Role.SME)


def _coefficient_rows(row: dict, names: dict[str, str] = COEFFICIENT_NAMES) -> list[dict]:
    return [{"key": key, "name": names[key], **(row.get(key) or {})} for key in COEFFICIENTS]


def _before_after_blocks(result: dict) -> list[dict]:
    """The paired before/after comparisons of a report, newest version first, ready to show.

    Reports computed before the comparison was paired have no "before_after" key: nothing is shown."""
    blocks = []
    for comparison in reversed(result.get("before_after") or []):
        rows = []
        for key in COEFFICIENTS:
            coefficient = (comparison.get("coefficients") or {}).get(key) or {}
            rows.append(
                {
                    "name": COEFFICIENT_NAMES[key],
                    "cells": [coefficient.get("before") or {}, coefficient.get("after") or {}],
                    "difference": coefficient.get("difference") or {},
                    "verdict": coefficient.get("verdict"),
                    "text": verdict_text(key, coefficient, comparison),
                }
            )
        blocks.append({**comparison, "rows": rows})
    return blocks


@require_GET
@project_role_required(*REVIEWERS)
def agreement_dashboard(request, slug):
    project = request.project
    fields = metadata_fields(project=project)
    if project_has_tags(project=project):
        fields = [*fields, TAG_SLICE]  # one slice per tag
    # Only a key the project's examples use is accepted; anything else means "no slice".
    chosen = request.GET.get("slice", "")
    chosen = chosen if chosen in fields else ""
    report = report_latest_succeeded(project=project)
    result = report.result if report else None
    names = coefficient_names(result)
    context = {
        "project": project,
        "report": report,
        "result": result,
        "pending": report_pending(project=project) or report_latest_failed(project=project),
        "fields": fields,
        "chosen_slice": chosen or (result or {}).get("slice_field") or "",
        "names": names,
        "label_sets": (result or {}).get("distance") == "masi",
        "span_report": "span_f1" in (result or {}),
        "is_manager": request.membership.role == Role.MANAGER,
        "open_disagreements": review_queue_count(project=project),
        "relabel_scopes": RelabelRequest.Scope.choices,
        "hlp": hlp_live(
            project=project, slice_field="" if chosen == TAG_SLICE else chosen, tags=chosen == TAG_SLICE
        ),
    }
    if result:
        history = report_history(project=project)
        context.update(
            {
                "coefficients": _coefficient_rows(result, names),
                "versions": [
                    {
                        "version": row["version"],
                        "n_items": row["n_items"],
                        "n_annotations": row["n_annotations"],
                        "coefficients": _coefficient_rows(row, names),
                    }
                    for row in result["by_guideline_version"]
                ],  # fmt: skip
                "history_rows": [
                    {
                        **row,
                        "as_of": datetime.fromisoformat(row["data_as_of"]) if row["data_as_of"] else None,
                        "coefficients": _coefficient_rows(row, names),
                    }
                    for row in history
                ],
                "slices": result.get("slices"),
                "slice_rows": [
                    {
                        "value": row["value"],
                        "n_items": row["n_items"],
                        "coefficients": _coefficient_rows(row, names),
                    }
                    for row in (result.get("slices") or {}).get("values", [])
                ],
                "before_after": _before_after_blocks(result),
                "slice_outdated": bool(chosen) and chosen != result.get("slice_field"),
                "matrix": kappa_matrix(result=result),
                "chart_data": {
                    "coefficients": list(COEFFICIENTS),
                    "names": names,
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
    if wants_partial(request):
        return _status_response(request, report)
    url = reverse("consistency:agreement_dashboard", args=[slug])
    if report.slice_field:
        url += "?" + urlencode({"slice": report.slice_field})
    return redirect(url)


@require_POST
@project_role_required(*REVIEWERS)
def agreement_report_retry(request, slug, report_id):
    """A failed report is history: retrying asks for a new one, sliced the same way."""
    try:
        report = report_get(project=request.project, report_id=report_id)
    except NotFound:
        raise Http404("Report not found.") from None
    try:
        report = job_retry(job=report, user=request.user)
    except Conflict as exc:
        messages.error(request, exc.message)
    if wants_partial(request):
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
    if wants_partial(request) and report is not None and report.is_finished and request.GET.get("report"):
        # The report the page was waiting for is ready: reload the page to show it.
        response["HX-Refresh"] = "true"
    return response
