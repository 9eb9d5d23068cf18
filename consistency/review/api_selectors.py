"""Querysets behind the consistency API: published guideline versions only (drafts never), and
the project's disagreements with their votes and current resolutions."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from consistency.review.models import Resolution
from core.errors import NotFound
from labeling.models import Annotation, Disagreement
from projects.models import GuidelineVersion, Project

VOTE_FIELDS = (
    "id",
    "example",
    "rater",
    "label",
    "guideline_version",
    "rater__id",
    "rater__username",
    "label__id",
    "label__name",
    "guideline_version__id",
    "guideline_version__number",
    "ambiguous",
    "ambiguous_note",
    "note",
    "created_at",
    "superseded_at",
)


def guideline_version_list_api(*, project: Project) -> QuerySet[GuidelineVersion]:
    return project.guideline_versions.select_related("author").order_by("-number")


def guideline_version_get_api(*, project: Project, number: int) -> GuidelineVersion:
    version = guideline_version_list_api(project=project).filter(number=number).first()
    if version is None:
        raise NotFound("No such guideline version.")
    return version


# --------------------------------------------------------------------------------------------------
# Disagreements and their resolutions


def disagreement_list_api(
    *,
    project: Project,
    status: str | None = None,
    reason: str | None = None,
    label: str | None = None,
    created_after: datetime | None = None,
) -> QuerySet[Disagreement]:
    """The project's disagreements with typed, allow-listed filters; `label` (a name) matches
    either of the two most-voted labels. Everything the API shows is fetched in a constant number
    of queries: one for the page, one each for guideline versions, votes and current resolutions."""
    queryset = project.disagreements.all()
    if status is not None:
        queryset = queryset.filter(status=status)
    if reason is not None:
        queryset = queryset.filter(reason=reason)
    if label is not None:
        queryset = queryset.filter(Q(label_a__name=label) | Q(label_b__name=label))
    if created_after is not None:
        queryset = queryset.filter(created_at__gt=created_after)
    votes = (
        Annotation.objects.select_related("rater", "label", "guideline_version")
        .only(*VOTE_FIELDS)
        .order_by("created_at", "id")
    )
    current_resolutions = Resolution.objects.filter(superseded_by__isnull=True).select_related("sme", "label")
    return queryset.select_related("example", "label_a", "label_b").prefetch_related(
        Prefetch(
            "guideline_versions", queryset=GuidelineVersion.objects.order_by("number").only("id", "number")
        ),
        Prefetch("example__annotations", queryset=votes, to_attr="api_votes"),
        Prefetch("resolutions", queryset=current_resolutions, to_attr="api_current_resolutions"),
    )


def disagreement_get_api(*, project: Project, disagreement_id: int) -> Disagreement:
    disagreement = disagreement_list_api(project=project).filter(pk=disagreement_id).first()
    if disagreement is None:
        raise NotFound("Disagreement not found.")
    return disagreement


def disagreement_votes(disagreement: Disagreement) -> list[Annotation]:
    """The votes the disagreement was about, from `disagreement_list_api`'s prefetch: the example's
    annotations in force when it was resolved (or now, while it is open). A later relabeling round
    supersedes them and adds new ones; those belong to a later disagreement, not to this one."""
    moment = disagreement.resolved_at or timezone.now()
    return [
        vote
        for vote in disagreement.example.api_votes
        if vote.created_at <= moment and (vote.superseded_at is None or vote.superseded_at > moment)
    ]


def disagreement_current_resolution(disagreement: Disagreement) -> Resolution | None:
    """The resolution in force (the newest revision), from `disagreement_list_api`'s prefetch."""
    current = disagreement.api_current_resolutions
    return current[0] if current else None


def label_id_by_name(*, project: Project, name: str) -> int | None:
    return project.labels.filter(name=name).values_list("pk", flat=True).first()
