"""Querysets behind the annotations API, scoped to the project and, for labelers, to themselves."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from labeling.models import Annotation
from projects.models import Membership, Role

ANNOTATION_LIST_FIELDS = (
    "id",
    "example",
    "rater",
    "label",
    "guideline_version",
    "example__id",
    "example__external_id",
    "rater__id",
    "rater__username",
    "label__id",
    "label__name",
    "guideline_version__id",
    "guideline_version__number",
    "ambiguous",
    "ambiguous_note",
    "note",
    "time_spent_ms",
    "source",
    "created_at",
    "superseded_at",
)


def annotation_list_api(
    *,
    membership: Membership,
    user: AbstractBaseUser,
    rater: str | None = None,
    label: str | None = None,
    guideline_version: int | None = None,
    ambiguous: bool | None = None,
    created_after: datetime | None = None,
    current: bool | None = None,
) -> QuerySet[Annotation]:
    """The project's annotations: all of them for managers and SMEs, only their own for labelers.

    The labeler restriction is applied before any filter, so `rater=<someone else>` finds nothing.
    """
    queryset = Annotation.objects.filter(example__project=membership.project)
    if membership.role == Role.LABELER:
        queryset = queryset.filter(rater=user)
    if rater is not None:
        queryset = queryset.filter(rater__username=rater)
    if label is not None:
        queryset = queryset.filter(label__name=label)
    if guideline_version is not None:
        queryset = queryset.filter(guideline_version__number=guideline_version)
    if ambiguous is not None:
        queryset = queryset.filter(ambiguous=ambiguous)
    if created_after is not None:
        queryset = queryset.filter(created_at__gt=created_after)
    if current is not None:
        queryset = queryset.filter(superseded_at__isnull=current)
    return queryset.select_related("example", "rater", "label", "guideline_version").only(
        *ANNOTATION_LIST_FIELDS
    )
