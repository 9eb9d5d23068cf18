"""Writes for guidelines: editing the draft and publishing it as a new, immutable version."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max
from django.urls import reverse

from core.errors import ApplicationError, Conflict
from core.models import AuditEntry
from core.services import audit_record, notice_send
from projects.models import GuidelineDraft, GuidelineVersion, Project, Role
from projects.selectors import guideline_in_force

MAX_GUIDELINE_CHARS = 200_000


@transaction.atomic
def guideline_draft_save(*, project: Project, user: AbstractBaseUser, body: str) -> GuidelineDraft:
    if len(body) > MAX_GUIDELINE_CHARS:
        message = f"The guideline is longer than {MAX_GUIDELINE_CHARS:,} characters."
        raise ApplicationError(message, extra={"body": [message]})
    draft, _ = GuidelineDraft.objects.select_for_update().get_or_create(project=project)
    draft.body = body
    draft.updated_by = user
    draft.save()
    return draft


@transaction.atomic
def guideline_publish(*, project: Project, user: AbstractBaseUser, changelog: str) -> GuidelineVersion:
    """Publish the draft as version n+1. The project row lock serialises concurrent publishes;
    the unique (project, number) constraint backs it."""
    changelog = (changelog or "").strip()
    if not changelog:
        message = "Write a changelog line: what changed in this version, and why."
        raise ApplicationError(message, extra={"changelog": [message]})
    Project.objects.select_for_update().get(pk=project.pk)
    draft, _ = GuidelineDraft.objects.select_for_update().get_or_create(project=project)
    if not draft.body.strip():
        raise Conflict("The draft is empty; write the guideline before publishing it.")
    latest = guideline_in_force(project=project)
    if latest is not None and latest.body == draft.body:
        raise Conflict(f"The draft is identical to version {latest.number}; nothing to publish.")
    number = (project.guideline_versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = GuidelineVersion.objects.create(
        project=project, number=number, body=draft.body, changelog=changelog[:500], author=user
    )
    draft.based_on = version
    draft.save(update_fields=["based_on", "updated_at"])
    labelers = [m.user for m in project.memberships.filter(role=Role.LABELER).select_related("user")]
    notice_send(
        users=labelers,
        project=project,
        kind="guideline",
        text=f"Guideline v{number} of {project.name} is published: {version.changelog}",
        url=reverse("projects:guideline_version", args=[project.slug, number]),
    )
    audit_record(
        action=AuditEntry.Action.GUIDELINE_PUBLISHED,
        actor=user,
        project=project,
        target=f"version {number}",
        details={"changelog": version.changelog},
    )
    return version
