"""Querysets behind the projects API, each scoped to a project the caller is a member of."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet

from core.errors import NotFound
from projects.models import Example, GuidelineVersion, ImportBatch, Label, Membership, Project

EXAMPLE_LIST_FIELDS = (
    "id",
    "project",
    "external_id",
    "text",
    "metadata",
    "annotation_count",
    "created_at",
    "media_file",
    "media_name",
    "media_type",
    "media_sha256",
    "media_bytes",
)


def membership_list_api(*, user: AbstractBaseUser) -> QuerySet[Membership]:
    """The caller's memberships with their projects, one query."""
    return (
        Membership.objects.filter(user=user)
        .select_related("project")
        .only(
            "id",
            "role",
            "project",
            "project__id",
            "project__name",
            "project__slug",
            "project__description",
            "project__overlap",
            "project__labels_are_ordinal",
        )
        .order_by("project__name", "project__id")
    )


def label_list_api(*, project: Project) -> QuerySet[Label]:
    return project.labels.order_by("position", "id")


def example_list_api(
    *,
    project: Project,
    external_id: str | None = None,
    created_after: datetime | None = None,
    has_annotations: bool | None = None,
) -> QuerySet[Example]:
    """The project's examples with typed, allow-listed filters (never raw request keys)."""
    queryset = project.examples.only(*EXAMPLE_LIST_FIELDS)
    if external_id is not None:
        queryset = queryset.filter(external_id=external_id)
    if created_after is not None:
        queryset = queryset.filter(created_at__gt=created_after)
    if has_annotations is True:
        queryset = queryset.filter(annotation_count__gt=0)
    elif has_annotations is False:
        queryset = queryset.filter(annotation_count=0)
    return queryset


def example_get_api(*, project: Project, example_id: int) -> Example:
    example = project.examples.filter(pk=example_id).first()
    if example is None:
        raise NotFound("Example not found.")
    return example


def import_batch_get_api(*, project: Project, batch_id: int) -> ImportBatch:
    batch = project.import_batches.filter(pk=batch_id, kind__in=ImportBatch.IMPORT_KINDS).first()
    if batch is None:
        raise NotFound("Import not found.")
    return batch


def guideline_version_list_api(*, project: Project) -> QuerySet[GuidelineVersion]:
    return project.guideline_versions.select_related("author").order_by("-number")


def guideline_version_get_api(*, project: Project, number: int) -> GuidelineVersion:
    version = guideline_version_list_api(project=project).filter(number=number).first()
    if version is None:
        raise NotFound("No such guideline version.")
    return version


def label_get_api(*, project: Project, label_id: int) -> Label:
    label = project.labels.filter(pk=label_id).first()
    if label is None:
        raise NotFound("Label not found.")
    return label


def membership_list_for_project_api(*, project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user").order_by("role", "user__username", "id")


def membership_get_api(*, project: Project, membership_id: int) -> Membership:
    membership = membership_list_for_project_api(project=project).filter(pk=membership_id).first()
    if membership is None:
        raise NotFound("Member not found.")
    return membership


def decisions_job_since(*, project: Project, since: datetime) -> ImportBatch | None:
    """The re-decision job a settings change queued (projects.hooks.review_rules_changed), if any."""
    return (
        project.import_batches.filter(kind=ImportBatch.Kind.DECISIONS)
        .filter(Q(created_at__gte=since) | Q(status=ImportBatch.Status.QUEUED))
        .order_by("-created_at")
        .first()
    )


def membership_exists_api(*, project: Project, username: str) -> bool:
    return project.memberships.filter(user__username=username).exists()
