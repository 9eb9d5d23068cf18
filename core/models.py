"""Tiny shared model pieces, and the REST API's personal access tokens."""

from django.conf import settings
from django.db import models


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class ApiToken(models.Model):
    """A named secret a user gives a script to call the REST API as them.

    Only a SHA-256 digest of the key is stored (the key is 256 random bits, so a fast hash is
    enough); the key itself is shown once, when the token is created. A user may hold several
    tokens (one per script or machine) and revoke each on its own; a revoked token stays as
    history but never authenticates again.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_digest = models.CharField(max_length=64, unique=True)
    key_prefix = models.CharField(max_length=16, help_text="The key's first characters, to recognise it.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="api_token_user_recent_idx")]

    def __str__(self) -> str:
        return f"{self.user} token {self.key_prefix}… ({self.name})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class AuditEntry(models.Model):
    """One thing a person did that changes who may do what, or what the data says: role changes,
    invitations, API tokens, guideline publishes, review rules, relabel requests, releases, gold
    labels. Append-only: the database refuses to update or delete a row (migration 0002).

    Plain ids, not foreign keys: a row outlives the project and the account it names (a cascade
    or SET NULL would be an update or a delete the database refuses), so it keeps the names too.
    """

    class Action(models.TextChoices):
        ROLE_CHANGED = "role_changed", "Role changed"
        MEMBER_REMOVED = "member_removed", "Member removed"
        MEMBER_DEACTIVATED = "member_deactivated", "Account deactivated"
        INVITATION_SENT = "invitation_sent", "Invitation sent"
        INVITATION_ACCEPTED = "invitation_accepted", "Invitation accepted"
        INVITATION_REVOKED = "invitation_revoked", "Invitation revoked"
        TOKEN_CREATED = "token_created", "API token created"
        TOKEN_REVOKED = "token_revoked", "API token revoked"
        GUIDELINE_PUBLISHED = "guideline_published", "Guideline published"
        SETTINGS_CHANGED = "settings_changed", "Review rules or overlap changed"
        RELABEL_REQUESTED = "relabel_requested", "Relabeling requested"
        RELEASE_CREATED = "release_created", "Release created"
        GOLD_SET = "gold_set", "Gold label set"
        GOLD_REVISED = "gold_revised", "Gold label revised"
        FIRST_MANAGER = "first_manager", "First account created"

    created_at = models.DateTimeField(auto_now_add=True)
    project_id = models.BigIntegerField(null=True, blank=True)
    project_slug = models.CharField(max_length=80, blank=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_name = models.CharField(max_length=150, blank=True, help_text="Empty: an operator's command.")
    action = models.CharField(max_length=32, choices=Action.choices)
    target = models.CharField(max_length=300, blank=True, help_text="Whom or what it was done to.")
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["project_id", "-created_at"], name="audit_project_recent_idx"),
            models.Index(fields=["project_id", "action", "-created_at"], name="audit_project_action_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name or 'operator'} {self.action} {self.target}"


class Notice(models.Model):
    """A short in-app message to one person, shown under the bell until read: a new guideline
    version or a question (labelers), newly queued cases (SMEs), a finished import or release
    (whoever started it). No email, no external service."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notices")
    project_id = models.BigIntegerField(null=True, blank=True)
    kind = models.CharField(max_length=32)
    text = models.CharField(max_length=300)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["user", "-created_at"],
                condition=models.Q(read_at__isnull=True),
                name="notice_unread_idx",
            ),
            models.Index(fields=["user", "-created_at"], name="notice_user_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"notice to {self.user}: {self.text}"
