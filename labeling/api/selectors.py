"""Reads behind the labeling API, scoped to the project and, for labelers, to themselves."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import QuerySet

from core.rawsql import concrete_fields, execute, model_from_row, models_from_row, select_columns
from labeling.models import Annotation, Assignment
from labeling.selectors import LABEL_ORDER, labels_keep
from projects.models import Example, Label, Membership, Project, Role

ANNOTATION_LIST_FIELDS = (
    "id",
    "example",
    "rater",
    "label",
    "labels",
    "spans",
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


ASSIGNMENT_FIELDS = ("id", "project_id", "example_id", "rater_id")


def assignment_get_api(
    *, project: Project, assignment_id: int, with_labels: bool = False
) -> Assignment | None:
    """One assignment of the project (anyone's: the view tells the caller's own from a foreign one).

    `with_labels`: the project's labels come in the same statement, each label's row carrying the
    assignment's columns (none when there is no such assignment), and are kept for the request
    (labeling.selectors.labels_for_labeling): a submit needs both, one round trip less."""
    table = Assignment._meta.db_table
    if with_labels:
        n_label = len(concrete_fields(Label))
        with connection.cursor() as cursor:
            execute(
                cursor,
                f"SELECT {select_columns((Label, 'l'))}, {', '.join(f'a.{f}' for f in ASSIGNMENT_FIELDS)} "
                f"FROM {Label._meta.db_table} AS l LEFT JOIN {table} AS a ON a.id = %s AND a.project_id = %s "
                f"WHERE l.project_id = %s ORDER BY {LABEL_ORDER}",
                [assignment_id, project.pk, project.pk],
            )
            rows = cursor.fetchall()
        if rows:  # a project without labels has nothing to join: read the assignment alone
            labels_keep(project=project, labels=[models_from_row(row[:n_label], Label)[0] for row in rows])
            found = rows[0][n_label:]
            return model_from_row(Assignment, ASSIGNMENT_FIELDS, found) if found[0] is not None else None
    with connection.cursor() as cursor:
        execute(
            cursor,
            f"SELECT {', '.join(ASSIGNMENT_FIELDS)} FROM {table} WHERE id = %s AND project_id = %s",
            [assignment_id, project.pk],
        )
        row = cursor.fetchone()
    return model_from_row(Assignment, ASSIGNMENT_FIELDS, row) if row is not None else None


def label_id_from_name_or_id(*, labels: list[Label], value: str) -> int | None:
    """The label (of the project's `labels`) named `value`, else the one whose id it is; None when
    neither."""
    for label in labels:
        if label.name == value:
            return label.pk
    if value.isascii() and value.isdigit() and len(value) < 10:
        return next((label.pk for label in labels if label.pk == int(value)), None)
    return None


def example_visible_metadata(*, project: Project, example: Example) -> dict:
    """The example's metadata fields the project shows to labelers (as the labeling page does)."""
    metadata = example.metadata if isinstance(example.metadata, dict) else {}
    return {field: metadata[field] for field in project.visible_metadata or [] if field in metadata}
