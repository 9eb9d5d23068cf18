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
