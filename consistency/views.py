"""Guideline pages every member may read: the published versions, never the draft."""

from django.http import Http404
from django.shortcuts import render

from projects.access import project_role_required

from .selectors import guideline_in_force


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


@project_role_required()
def guideline_version_detail(request, slug, number):
    version = request.project.guideline_versions.select_related("author").filter(number=number).first()
    if version is None:
        raise Http404("No such guideline version.")
    return render(
        request, "consistency/guideline_version.html", {"project": request.project, "version": version}
    )
