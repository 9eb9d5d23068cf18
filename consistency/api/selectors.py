"""Querysets behind the consistency API: published guideline versions only (drafts never)."""

from django.db.models import QuerySet

from consistency.models import GuidelineVersion
from core.errors import NotFound
from projects.models import Project


def guideline_version_list_api(*, project: Project) -> QuerySet[GuidelineVersion]:
    return project.guideline_versions.select_related("author").order_by("-number")


def guideline_version_get_api(*, project: Project, number: int) -> GuidelineVersion:
    version = guideline_version_list_api(project=project).filter(number=number).first()
    if version is None:
        raise NotFound("No such guideline version.")
    return version
