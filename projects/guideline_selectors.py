"""Reads for guidelines, scoped to a project the caller already holds."""

from django.contrib.auth.models import AbstractBaseUser

from labeling.models import Annotation
from projects.models import GuidelineDraft, GuidelineVersion, Project

# {project id: highest version number whose banner the user dismissed}, in the user's session.
BANNER_SESSION_KEY = "guideline_banner_dismissed"


def guideline_in_force(*, project: Project) -> GuidelineVersion | None:
    """The latest published version: the one new annotations are stamped with."""
    return project.guideline_versions.order_by("-number").first()


def guideline_draft_get(*, project: Project) -> GuidelineDraft:
    """The project's draft; an unsaved empty one if nobody has written it yet."""
    return GuidelineDraft.objects.filter(project=project).first() or GuidelineDraft(project=project, body="")


def guideline_banner_version(
    *, project: Project, user: AbstractBaseUser, dismissed_number: int | None = None
) -> GuidelineVersion | None:
    """The version to announce to a labeler: the one in force, if it was published after their
    last annotation in the project and they have not dismissed it. None for someone who has not
    labeled yet (everything is new to them; the guideline panel shows the version in force)."""
    current = guideline_in_force(project=project)
    if current is None or (dismissed_number is not None and current.number <= dismissed_number):
        return None
    last = (
        Annotation.objects.filter(rater=user, example__project=project)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if last is None or current.published_at <= last:
        return None
    return current
