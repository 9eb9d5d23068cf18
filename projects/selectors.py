"""Reads about projects, always scoped to what the requesting user may see."""

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import Count, Q, QuerySet

from core.errors import AccessDenied, ApplicationError, NotFound
from core.models import AuditEntry
from core.rawsql import models_fetch_one, select_columns
from projects.media import SERVABLE_TYPES
from projects.models import (
    Example,
    ExampleTag,
    GuidelineDraft,
    GuidelineVersion,
    ImportBatch,
    Invitation,
    Membership,
    Prediction,
    Project,
    Role,
)


def project_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Project]:
    """The projects the user is a member of, with their role and example count."""
    return (
        Project.objects.filter(memberships__user=user)
        .annotate(n_examples=Count("examples", distinct=True))
        .order_by("name")
    )


PROJECT_CREATORS = ("staff", "managers", "everyone")
# Why someone may not create projects, by CONCORD_PROJECT_CREATORS (pages and API alike).
PROJECT_CREATORS_MESSAGE = {
    "staff": "Only staff can create projects; ask an administrator.",
    "managers": "Only staff and managers of a project can create projects; ask an administrator.",
}


def project_create_allowed(*, user: AbstractBaseUser) -> bool:
    """Whether `user` may create projects, by settings.CONCORD_PROJECT_CREATORS: "staff" only,
    "managers" (staff, and whoever manages a project already), or "everyone" signed in."""
    if not user.is_authenticated or not user.is_active:
        return False
    creators = settings.CONCORD_PROJECT_CREATORS
    if user.is_staff or user.is_superuser or creators == "everyone":
        return True
    if creators == "managers":
        return Membership.objects.filter(user=user, role=Role.MANAGER).exists()
    return False


def membership_get(*, user: AbstractBaseUser, slug: str, roles: tuple[str, ...] | None = None) -> Membership:
    """The user's membership of project `slug`.

    Raises NotFound when the user is not a member (so outsiders cannot tell whether a project
    exists) and AccessDenied when the member's role is not among `roles`.
    """
    if not user.is_authenticated:
        raise NotFound("Project not found.")
    # Plain SQL, on every request under a project; with the guideline version in force (its id
    # and publication time: see guideline_in_force_memo), which saves the request a query.
    versions = GuidelineVersion._meta.db_table
    in_force = f"FROM {versions} AS g WHERE g.project_id = p.id ORDER BY g.number DESC LIMIT 1"
    found = models_fetch_one(
        f"SELECT {select_columns((Membership, 'm'), (Project, 'p'))}, (SELECT g.id {in_force}), "
        f"(SELECT g.published_at {in_force}) FROM {Membership._meta.db_table} AS m "
        f"JOIN {Project._meta.db_table} AS p ON p.id = m.project_id WHERE m.user_id = %s AND p.slug = %s",
        [user.pk, slug],
        Membership,
        Project,
    )
    if found is None:
        raise NotFound("Project not found.")
    membership, project, guideline_id, published_at = found
    membership.project = project
    if roles is not None and membership.role not in roles:
        allowed = " or ".join(Role(r).label.lower() for r in roles)
        raise AccessDenied(f"Only a {allowed} of this project can do that.")
    # This project instance lives for one request: reads it needs several times in that request
    # (its labels, the guideline in force) are kept here by request_memo.
    project.request_memo = {"guideline_key": (guideline_id, published_at)}
    return membership


# Published guideline versions never change (a trigger refuses updates), so one read of each
# serves every request: keyed by id and publication time (an id alone can come back on SQLite).
_guideline_versions: dict[tuple, GuidelineVersion | None] = {}
GUIDELINE_VERSIONS_KEPT = 500


def guideline_in_force_memo(*, project: Project) -> GuidelineVersion | None:
    """guideline_in_force, once per request; for a project fetched by membership_get (which read
    which version is in force) without a query of its own once the version was read."""
    memo = getattr(project, "request_memo", None)
    key = memo.get("guideline_key") if memo is not None else None
    if key is None:
        return request_memo(project, "guideline", lambda: guideline_in_force(project=project))
    if key[0] is None:
        return None
    if key not in _guideline_versions:
        if len(_guideline_versions) >= GUIDELINE_VERSIONS_KEPT:
            _guideline_versions.clear()
        _guideline_versions[key] = GuidelineVersion.objects.filter(pk=key[0]).first()
    return _guideline_versions[key]


def request_memo(project: Project, key: str, read):
    """`read()`, once per request for a project fetched by membership_get (its instance carries
    the memo); read afresh for any other instance (services called outside a request)."""
    memo = getattr(project, "request_memo", None)
    if memo is None:
        return read()
    if key not in memo:
        memo[key] = read()
    return memo[key]


def project_members(*, project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user").order_by("role", "user__username")


def invitation_list_pending(*, project: Project) -> QuerySet[Invitation]:
    """The project's invitations nobody has accepted or withdrawn yet (expired ones included)."""
    return (
        project.invitations.filter(accepted_at__isnull=True, revoked_at__isnull=True)
        .select_related("invited_by")
        .order_by("-created_at", "-id")
    )


def import_batch_list(*, project: Project) -> QuerySet[ImportBatch]:
    """The project's imports, newest first."""
    return project.import_batches.select_related("created_by").order_by("-created_at")


def import_batch_get(*, project: Project, batch_id: int) -> ImportBatch:
    try:
        return project.import_batches.get(pk=batch_id)
    except ImportBatch.DoesNotExist:
        raise NotFound("Import not found.") from None


# --------------------------------------------------------------------------------------------------
# Guidelines


def guideline_in_force(*, project: Project) -> GuidelineVersion | None:
    """The latest published version: the one new annotations are stamped with."""
    return project.guideline_versions.order_by("-number").first()


def guideline_draft_get(*, project: Project) -> GuidelineDraft:
    """The project's draft; an unsaved empty one if nobody has written it yet."""
    return GuidelineDraft.objects.filter(project=project).first() or GuidelineDraft(project=project, body="")


# --------------------------------------------------------------------------------------------------
# Example metadata: the fields agreement can be sliced by and releases stratified by

MAX_SLICE_FIELDS = 200


def metadata_fields(*, project: Project) -> list[str]:
    """The metadata keys used by any of the project's examples, sorted: the valid slice fields.

    One query that lets the database list the keys instead of loading every example's metadata.
    """
    table = Example._meta.db_table
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT DISTINCT k FROM {table}, jsonb_object_keys(CASE WHEN jsonb_typeof(metadata) = 'object' "
            f"THEN metadata ELSE '{{}}'::jsonb END) AS k WHERE project_id = %s ORDER BY k LIMIT %s"
        )
    elif connection.vendor == "sqlite":
        sql = (
            f"SELECT DISTINCT j.key FROM {table}, json_each({table}.metadata) AS j "
            f"WHERE {table}.project_id = %s AND json_type({table}.metadata) = 'object' "
            "ORDER BY j.key LIMIT %s"
        )
    else:  # pragma: no cover - other backends: read the metadata (fine for small projects)
        keys: set[str] = set()
        for metadata in Example.objects.filter(project=project).values_list("metadata", flat=True):
            if isinstance(metadata, dict):
                keys.update(metadata)
        return sorted(keys)[:MAX_SLICE_FIELDS]
    with connection.cursor() as cursor:
        cursor.execute(sql, [project.pk, MAX_SLICE_FIELDS])
        return [row[0] for row in cursor.fetchall()]


def slice_field_clean(*, project: Project, field: str | None) -> str:
    """`field` if it is one of the project's metadata keys, else "" (no slicing).

    Request strings never reach an ORM lookup unchecked: only a key the examples actually use passes.
    """
    if not field:
        return ""
    return field if field in metadata_fields(project=project) else ""


TOKEN_ACTIONS = ("token_created", "token_revoked")


def audit_log(*, project: Project, action: str = "", actor: str = "") -> QuerySet[AuditEntry]:
    """The project's audit log, newest first: its own rows, and the API tokens its current members
    created or revoked (a token acts in every project of its owner). `action` must be one of
    AuditEntry.Action (else ApplicationError naming it); `actor` is a username, matched exactly."""
    rows = AuditEntry.objects.filter(
        Q(project_id=project.pk)
        | Q(
            project_id__isnull=True,
            action__in=TOKEN_ACTIONS,
            actor_id__in=project.memberships.values("user_id"),
        )
    )
    if action:
        if action not in AuditEntry.Action.values:
            raise ApplicationError(f"Unknown action '{action[:40]}': choose one from the list.")
        rows = rows.filter(action=action)
    if actor:
        rows = rows.filter(actor_name=actor.strip())
    return rows.order_by("-created_at", "-id")


def predictions_for_example(*, project: Project, example_id: int) -> list[Prediction]:
    """Every model's prediction for one example, for SMEs and managers (never shown to labelers)."""
    return list(
        Prediction.objects.filter(prediction_set__project=project, example_id=example_id)
        .select_related("prediction_set", "label")
        .order_by("prediction_set__model_name", "prediction_set__version")
    )


def tag_vocabulary(*, project: Project) -> list[str]:
    """The project's tags in use, sorted: suggested when tagging so one idea keeps one name."""
    return list(
        ExampleTag.objects.filter(project=project).values_list("name", flat=True).distinct().order_by("name")
    )


def example_tag_names(*, project: Project, example_id: int) -> list[str]:
    return list(
        ExampleTag.objects.filter(project=project, example_id=example_id).values_list("name", flat=True)
    )


def project_has_tags(*, project: Project) -> bool:
    return ExampleTag.objects.filter(project=project).exists()


def example_media_get(*, user: AbstractBaseUser, slug: str, example_id: int) -> Example:
    """An example with a media file, of a project the user is a member of (any role: blindness
    hides others' labels, not the project's examples). NotFound for anyone else, and for an
    example without media or whose stored type is not one Concord serves."""
    membership = membership_get(user=user, slug=slug)
    return example_media_find(project=membership.project, example_id=example_id)


def example_media_find(*, project: Project, example_id: int) -> Example:
    """example_media_get for a project whose membership the caller already checked."""
    example = (
        project.examples.filter(pk=example_id, media_type__in=SERVABLE_TYPES)
        .exclude(media_file="")
        .only("id", "project_id", "media_file", "media_name", "media_type", "media_sha256", "media_bytes")
        .first()
    )
    if example is None:
        raise NotFound("No such media file.")
    return example
