"""Writes for projects, their labels and their members. Each function is one use case and
owns its transaction."""

import unicodedata
from collections.abc import Sequence

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max

from core.errors import AccessDenied, ApplicationError, Conflict, NotFound
from core.models import AuditEntry
from core.services import audit_record
from projects import hooks
from projects.models import (
    LABEL_SEPARATOR,
    RESERVED_SHORTCUT_KEYS,
    RESERVED_SLUGS,
    GuidelineDraft,
    Label,
    Membership,
    Project,
    Role,
    TaskType,
)

PROJECT_EDITABLE_FIELDS = (
    "name",
    "description",
    "overlap",
    "lease_minutes",
    "lease_queue_size",
    "task_type",
    "allow_empty_label_set",
    "spans_may_nest",
    "labels_are_ordinal",
    "kappa_weights",
    "visible_metadata",
    "majority_threshold",
    "honeypot_rate",
    "label_issue_top_n",
    "accept_majority",
    "extra_raters_on_split",
)


def _field_error(field: str, message: str) -> ApplicationError:
    """An error the API reports under `field` (pages show the message)."""
    return ApplicationError(message, extra={field: [message]})


# The task types labeling supports end to end.
TASK_TYPES_SUPPORTED = (TaskType.SINGLE, TaskType.MULTI, TaskType.SPANS)
TASK_TYPE_FIXED_MESSAGE = (
    "The task type cannot change once the project has annotations: every annotation would have to "
    "change shape. Create a new project for the other task type."
)
NESTING_FIXED_MESSAGE = (
    "Whether spans may nest cannot change once the project has annotations: the annotations were "
    "checked under the current setting."
)


def _task_type_check(task_type: str) -> str:
    if task_type not in TASK_TYPES_SUPPORTED:
        supported = ", ".join(str(value) for value in TASK_TYPES_SUPPORTED)
        raise _field_error("task_type", f"Choose a task type Concord can label: {supported}.")
    return str(task_type)


def project_has_annotations(*, project: Project) -> bool:
    """Whether any annotation (current or superseded) exists: from then on the task type is fixed."""
    return project.examples.filter(annotations__isnull=False).exists()


@transaction.atomic
def project_create(
    *,
    name: str,
    slug: str,
    creator: AbstractBaseUser | None,
    description: str = "",
    overlap: int = 3,
    labels: Sequence[dict] = (),
    task_type: str = TaskType.SINGLE,
    allow_empty_label_set: bool = False,
    spans_may_nest: bool = False,
) -> Project:
    """Create a project, with `labels` (dicts of label_save's arguments, shortcut_key optional);
    its creator becomes its first manager. All or nothing: a bad label leaves no project behind.
    Who may create projects is the caller's check (projects.selectors.project_create_allowed);
    commands create them freely."""
    if slug in RESERVED_SLUGS:
        raise _field_error("slug", f"'{slug}' is a word Concord's addresses use; choose another address.")
    taken = f"A project with the address '{slug}' already exists; choose another."
    if Project.objects.filter(slug=slug).exists():
        raise _field_error("slug", taken)
    project = Project(
        name=name,
        slug=slug,
        description=description,
        overlap=overlap,
        created_by=creator,
        task_type=_task_type_check(task_type),
        allow_empty_label_set=bool(allow_empty_label_set),
        spans_may_nest=bool(spans_may_nest),
    )
    try:
        project.full_clean()
    except ValidationError as exc:
        raise ApplicationError(" ".join(exc.messages), extra=exc.message_dict) from None
    try:
        with transaction.atomic():
            project.save()
    except IntegrityError:
        raise _field_error("slug", taken) from None
    if creator is not None:
        Membership.objects.create(user=creator, project=project, role=Role.MANAGER)
    GuidelineDraft.objects.create(project=project, body="", updated_by=creator)
    for index, label in enumerate(labels):
        try:
            label_save(project=project, **{"shortcut_key": "", **label})
        except ApplicationError as exc:
            message = f"Label {index + 1} ({label.get('name', '')!r}): {exc.message}"
            raise _field_error("labels", message) from None
    return project


# The settings the decision rules read (labeling.decisions.decide): changing one fires
# projects.hooks.review_rules_changed, on which labeling re-decides the examples in a background job.
REVIEW_RULE_FIELDS = ("overlap", "majority_threshold", "accept_majority", "extra_raters_on_split")


@transaction.atomic
def project_update(*, project: Project, user: AbstractBaseUser | None = None, **fields) -> Project:
    unknown = set(fields) - set(PROJECT_EDITABLE_FIELDS)
    if unknown:
        raise ApplicationError(f"These settings cannot be changed here: {', '.join(sorted(unknown))}.")
    project = Project.objects.select_for_update().get(pk=project.pk)
    before = {name: getattr(project, name) for name in REVIEW_RULE_FIELDS}
    if "task_type" in fields and fields["task_type"] != project.task_type:
        fields["task_type"] = _task_type_check(fields["task_type"])
        # Checked under the project's row lock. A submit already in flight when the type changes
        # could still store its old shape; before the first annotation nobody has labeled, so the
        # window is the first label of a brand-new project.
        if project_has_annotations(project=project):
            # Well-formed, refused by the state of things: a conflict (the API's 409).
            raise Conflict(TASK_TYPE_FIXED_MESSAGE, extra={"task_type": [TASK_TYPE_FIXED_MESSAGE]})
    nesting_changes = "spans_may_nest" in fields and bool(fields["spans_may_nest"]) != project.spans_may_nest
    # As the task type: every annotation was checked against the setting in force.
    if nesting_changes and project_has_annotations(project=project):
        raise Conflict(NESTING_FIXED_MESSAGE, extra={"spans_may_nest": [NESTING_FIXED_MESSAGE]})
    for name, value in fields.items():
        setattr(project, name, value)
    try:
        project.full_clean()
    except ValidationError as exc:
        raise ApplicationError(" ".join(exc.messages), extra=exc.message_dict) from None
    project.save(update_fields=[*fields, "updated_at"])
    changed = {
        name: (old, getattr(project, name)) for name, old in before.items() if getattr(project, name) != old
    }
    if changed:
        audit_record(
            action=AuditEntry.Action.SETTINGS_CHANGED,
            actor=user,
            project=project,
            target=", ".join(changed),
            details={name: {"from": old, "to": new} for name, (old, new) in changed.items()},
        )
        hooks.review_rules_changed.fire(project=project, user=user, changed=changed)
    return project


SHORTCUT_KEYS = "1234567890bcdefghijklmopqrtvwxyz"  # every valid key but the reserved ones


def _validate_shortcut(key: str) -> str:
    key = (key or "").strip().lower()
    if len(key) != 1 or not key.isascii() or not key.isalnum():
        raise _field_error("shortcut_key", "The shortcut must be one key: a digit or a letter.")
    if key in RESERVED_SHORTCUT_KEYS:
        raise _field_error(
            "shortcut_key",
            f"'{key}' is reserved (a = ambiguous, s = skip, u = undo, n = note); choose another key.",
        )
    return key


def _free_shortcut(project: Project, label_id: int | None) -> str:
    """The first key no other label of the project uses: digits first, then letters."""
    used = set(project.labels.exclude(pk=label_id).values_list("shortcut_key", flat=True))
    key = next((key for key in SHORTCUT_KEYS if key not in used and key not in RESERVED_SHORTCUT_KEYS), None)
    if key is None:
        raise Conflict("Every shortcut key is taken by another label; free one first.")
    return key


@transaction.atomic
def label_save(
    *,
    project: Project,
    name: str,
    shortcut_key: str,
    description: str = "",
    colour: str = "#4c78a8",
    position: int | None = None,
    label_id: int | None = None,
) -> Label:
    """Create a label, or update one of this project's labels. An empty `shortcut_key` takes
    the first free key (scripts need not choose one)."""
    Project.objects.select_for_update().get(pk=project.pk)  # serialise label edits
    key = _validate_shortcut(shortcut_key) if shortcut_key else _free_shortcut(project, label_id)
    if label_id is None:
        label = Label(project=project)
        if position is None:
            highest = project.labels.aggregate(m=Max("position"))["m"]
            position = 0 if highest is None else highest + 1
    else:
        try:
            label = project.labels.get(pk=label_id)
        except Label.DoesNotExist:
            raise NotFound("Label not found.") from None
    name = (name or "").strip()
    if any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in name):
        raise _field_error(
            "name", "A label's name is one line of text: no line breaks, tabs or other control characters."
        )
    if LABEL_SEPARATOR in name:
        raise _field_error(
            "name",
            f"A label's name cannot contain '{LABEL_SEPARATOR}': it joins the labels of a set in files.",
        )
    clash = project.labels.exclude(pk=label.pk)
    if clash.filter(name__iexact=name).exists():
        raise _field_error("name", f"There is already a label named '{name}'.")
    if clash.filter(shortcut_key=key).exists():
        raise _field_error("shortcut_key", f"The key '{key}' is already the shortcut of another label.")
    label.name, label.shortcut_key, label.description, label.colour = name, key, description, colour
    if position is not None:
        label.position = position
    try:
        label.full_clean(exclude=["project"])
    except ValidationError as exc:
        raise ApplicationError(
            "; ".join(f"{f}: {' '.join(m)}" for f, m in exc.message_dict.items()), extra=exc.message_dict
        ) from None
    label.save()
    return label


@transaction.atomic
def label_delete(*, project: Project, label_id: int) -> None:
    try:
        label = project.labels.select_for_update().get(pk=label_id)
    except Label.DoesNotExist:
        raise NotFound("Label not found.") from None
    used = label.annotations.count()
    if used:
        raise Conflict(
            f"'{label.name}' is used by {used} annotation(s) and cannot be deleted; rename it instead."
        )
    label.delete()


ADD_MEMBER_NEEDS_INVITATION = (
    "People join a project by accepting an invitation: invite them by email below. "
    "Managers can change the roles of existing members."
)


@transaction.atomic
def membership_save(
    *, project: Project, actor: AbstractBaseUser | None, username: str, role: str, password: str = ""
) -> Membership:
    """Change a member's role (any manager), or add someone: from the web only through an
    invitation they accept (projects.services.invitations); `actor` None, an operator's command
    (the demo loader, scripts), adds an existing account or a new one when a password is given.

    A web actor naming a non-member is refused before any account is looked up, with one message
    whether or not the username exists, so the form cannot be used to discover accounts.
    """
    if role not in Role.values:
        raise _field_error("role", f"Unknown role '{role}'.")
    username = (username or "").strip()
    # Lock the project's memberships so two managers demoting each other cannot leave none.
    members = list(project.memberships.select_for_update().select_related("user"))
    membership = next((m for m in members if m.user.username == username), None)
    if membership is None:
        if actor is not None:
            raise AccessDenied(ADD_MEMBER_NEEDS_INVITATION)
        membership = Membership.objects.create(user=_account(username, password), project=project, role=role)
        _audit_role(actor, project, username, before="", after=role)
        return membership
    if membership.role == Role.MANAGER and role != Role.MANAGER:
        _ensure_other_manager(members, membership)
    before = membership.role
    membership.role = role
    membership.save(update_fields=["role", "updated_at"])
    if before != role:
        _audit_role(actor, project, username, before=before, after=role)
    return membership


def _audit_role(actor, project: Project, username: str, *, before: str, after: str) -> None:
    audit_record(
        action=AuditEntry.Action.ROLE_CHANGED,
        actor=actor,
        project=project,
        target=username,
        details={"from": before, "to": after},
    )


def _account(username: str, password: str) -> AbstractBaseUser:
    """The account named `username`, or a new one with `password`."""
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is not None:
        return user
    if not password:
        raise _field_error(
            "username", f"There is no user '{username}'. Give a password to create the account."
        )
    user = User(username=username)
    try:
        user.full_clean(exclude=["password"])
    except ValidationError as exc:
        raise ApplicationError(" ".join(exc.messages)) from None
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise ApplicationError("Password: " + " ".join(exc.messages)) from None
    user.set_password(password)
    user.save()
    return user


@transaction.atomic
def membership_remove(*, project: Project, membership_id: int, actor: AbstractBaseUser | None = None) -> None:
    members = list(project.memberships.select_for_update().select_related("user"))
    membership = next((m for m in members if m.pk == membership_id), None)
    if membership is None:
        raise NotFound("Member not found.")
    if membership.role == Role.MANAGER:
        _ensure_other_manager(members, membership)
    membership.delete()
    audit_record(
        action=AuditEntry.Action.MEMBER_REMOVED,
        actor=actor,
        project=project,
        target=membership.user.username,
        details={"role": membership.role},
    )


def _ensure_other_manager(members: list[Membership], leaving: Membership) -> None:
    if not any(m.role == Role.MANAGER and m.pk != leaving.pk for m in members):
        raise _field_error("role", "A project needs at least one manager; make someone else manager first.")


@transaction.atomic
def member_deactivate(*, project: Project, actor: AbstractBaseUser, membership_id: int) -> Membership:
    """Switch off a member's account: they can no longer log in or use their API tokens; their
    labels and decisions stay. A manager may do it only to someone who works in no project the
    manager does not manage (staff may always); nobody deactivates themselves, staff, or the
    project's last manager."""
    members = list(project.memberships.select_for_update().select_related("user"))
    membership = next((m for m in members if m.pk == membership_id), None)
    if membership is None:
        raise NotFound("Member not found.")
    person = membership.user
    if person.pk == actor.pk:
        raise ApplicationError("You cannot deactivate your own account.")
    if (person.is_staff or person.is_superuser) and not actor.is_superuser:
        raise AccessDenied("Only an administrator can deactivate a staff account.")
    if not (actor.is_staff or actor.is_superuser):
        managed = Membership.objects.filter(user=actor, role=Role.MANAGER).values("project_id")
        if Membership.objects.filter(user=person).exclude(project_id__in=managed).exists():
            raise AccessDenied(
                f"{person.get_username()} also works in projects you do not manage; "
                "remove them from this project, or ask an administrator."
            )
    if membership.role == Role.MANAGER:
        _ensure_other_manager([m for m in members if m.user.is_active], membership)
    if person.is_active:
        type(person).objects.filter(pk=person.pk).update(is_active=False)
        person.is_active = False
        audit_record(
            action=AuditEntry.Action.MEMBER_DEACTIVATED,
            actor=actor,
            project=project,
            target=person.get_username(),
        )
    return membership
