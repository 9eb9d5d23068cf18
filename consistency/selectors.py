"""Reads for guidelines, scoped to a project the caller already holds."""

from projects.models import Project

from .models import GuidelineDraft, GuidelineVersion


def guideline_in_force(*, project: Project) -> GuidelineVersion | None:
    """The latest published version: the one new annotations are stamped with."""
    return project.guideline_versions.order_by("-number").first()


def guideline_draft_get(*, project: Project) -> GuidelineDraft:
    """The project's draft; an unsaved empty one if nobody has written it yet."""
    return GuidelineDraft.objects.filter(project=project).first() or GuidelineDraft(project=project, body="")
