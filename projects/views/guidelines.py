"""Guideline pages: the published versions and the diff between two of them, which every member
may read (never the draft); and the draft, which managers and SMEs edit and managers publish."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import ApplicationError
from projects.access import project_role_required
from projects.forms import GuidelineDraftForm, GuidelinePublishForm
from projects.guideline_diff import diff_guideline_text
from projects.models import Role
from projects.selectors import guideline_draft_get, guideline_in_force
from projects.services import guidelines as guideline_services


@require_GET
@project_role_required()
def guideline_versions(request, slug):
    project = request.project
    return render(
        request,
        "projects/guideline_versions.html",
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
        request, "projects/guideline_version.html", {"project": request.project, "version": version}
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
            request, "projects/guideline_diff.html", {"project": project, "numbers": numbers, "old": None}
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
    return render(request, "projects/guideline_diff.html", context)


@require_http_methods(["GET", "POST"])
@project_role_required(Role.MANAGER, Role.SME)
def guideline_edit(request, slug):
    """Edit the draft (managers and SMEs write guidelines); managers publish it."""
    project = request.project
    draft = guideline_draft_get(project=project)
    form = GuidelineDraftForm(request.POST or None, initial={"body": draft.body})
    if request.method == "POST" and form.is_valid():
        try:
            guideline_services.guideline_draft_save(
                project=project, user=request.user, body=form.cleaned_data["body"]
            )
        except ApplicationError as exc:
            form.add_error("body", exc.message)
        else:
            messages.success(request, "Draft saved. Publish it when it is ready.")
            return redirect("projects:guideline", slug=slug)
    context = {
        "project": project,
        "draft": draft,
        "form": form,
        "publish_form": GuidelinePublishForm(),
        "in_force": guideline_in_force(project=project),
        "versions": project.guideline_versions.select_related("author"),
        "can_publish": request.membership.role == Role.MANAGER,
    }
    return render(request, "projects/guideline.html", context, status=400 if form.errors else 200)


@require_POST
@project_role_required(Role.MANAGER)
def guideline_publish(request, slug):
    form = GuidelinePublishForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write a changelog line (at most 500 characters) to publish.")
        return redirect("projects:guideline", slug=slug)
    try:
        version = guideline_services.guideline_publish(
            project=request.project, user=request.user, changelog=form.cleaned_data["changelog"]
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Version {version.number} published; new annotations are stamped with it.")
    return redirect("projects:guideline", slug=slug)
