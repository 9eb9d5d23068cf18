"""Versioned labeling guidelines, and (in later steps) agreement reports, disagreements,
resolutions and dataset releases."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from projects.models import Project


class GuidelineVersion(models.Model):
    """A published guideline. Append-only: once written it never changes; a new one is created."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="guideline_versions")
    number = models.PositiveIntegerField()
    body = models.TextField(help_text="Markdown.")
    changelog = models.CharField(max_length=500)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-number"]
        get_latest_by = "number"
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="guideline_version_unique"),
            models.CheckConstraint(condition=Q(number__gte=1), name="guideline_version_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.project} guideline v{self.number}"


class GuidelineDraft(models.Model):
    """The one editable working copy of a project's guideline, published as version n+1."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="guideline_draft")
    body = models.TextField(blank=True)
    based_on = models.ForeignKey(
        GuidelineVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.project} guideline draft"
