"""Guideline pages every member may read: the published versions and the diff between two of
them, never the draft; and dismissing the "new version" banner."""

from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from projects.access import project_role_required
from projects.guideline_diff import diff_guideline_text
from projects.guideline_selectors import BANNER_SESSION_KEY, guideline_in_force


@require_GET
@project_role_required()
def guideline_versions(request, slug):
    project = request.project
    return render(
        request,
        "consistency/guideline_versions.html",
        {
            "project": project,
            "in_force": guideline_in_force(project=project),
            "versions": project.guideline_versions.select_related("author"),
        },
    )


@require_GET
@project_role_required()
def guideline_version_detail(request, slug, number):
    version = request.project.guideline_versions.select_related("author").filter(number=number).first()
    if version is None:
        raise Http404("No such guideline version.")
    return render(
        request, "consistency/guideline_version.html", {"project": request.project, "version": version}
    )


def _version_number(raw, default: int | None) -> int | None:
    return int(raw) if isinstance(raw, str) and raw.isdigit() else default


@require_GET
@project_role_required()
def guideline_diff(request, slug):
    """Word-level diff between two published versions (?a=1&b=2; defaults: the two latest)."""
    project = request.project
    numbers = list(project.guideline_versions.order_by("number").values_list("number", flat=True))
    if len(numbers) < 2:
        return render(
            request, "consistency/guideline_diff.html", {"project": project, "numbers": numbers, "old": None}
        )
    a = _version_number(request.GET.get("a"), numbers[-2])
    b = _version_number(request.GET.get("b"), numbers[-1])
    versions = {v.number: v for v in project.guideline_versions.filter(number__in=[a, b])}
    if a not in versions or b not in versions:
        raise Http404("No such guideline version.")
    old, new = versions[a], versions[b]
    diff = diff_guideline_text(old.body, new.body)
    context = {
        "project": project,
        "numbers": numbers,
        "old": old,
        "new": new,
        "diff": diff.html,
        "stats": diff.stats,
    }
    return render(request, "consistency/guideline_diff.html", context)


@require_POST
@project_role_required()
def guideline_banner_dismiss(request, slug, number):
    """Hide the "new guideline version" banner up to version `number` (kept in the session)."""
    dismissed = request.session.get(BANNER_SESSION_KEY, {})
    dismissed[str(request.project.pk)] = int(number)
    request.session[BANNER_SESSION_KEY] = dismissed
    return redirect("labeling:label", slug=slug)
