"""Agreement reports: append-only snapshots of a project's agreement JSON, computed in the background."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.jobs.models import Job


class AgreementReport(Job):
    """One snapshot of inter-rater agreement for a project, computed in the background (a
    core.jobs job of kind "agreement_report").

    Append-only once finished: a succeeded or failed report is never recomputed; a refresh creates
    a new report, so past reports form the history the dashboard charts. At most one report per
    project waits in the queue at a time (the partial unique constraint), which is what makes the
    automatic refresh after new annotations debounced.
    """

    JOB_KIND = "agreement_report"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Requested on the dashboard"
        AUTO = "auto", "After new annotations"
        COMMAND = "command", "Command line"

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="agreement_reports"
    )
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    slice_field = models.CharField(
        max_length=255, blank=True, help_text="Metadata field the slices were computed for; empty for none."
    )
    n_annotations = models.PositiveIntegerField(
        default=0, help_text="Annotations the report was computed on."
    )
    result = models.JSONField(null=True, blank=True, help_text="The agreement JSON contract.")

    class Meta:
        ordering = ["project", "-created_at", "-id"]
        get_latest_by = "created_at"
        constraints = [
            models.UniqueConstraint(
                fields=["project"], condition=Q(status="queued"), name="agreement_report_one_queued"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "succeeded", "failed"]),
                name="agreement_report_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(progress_percent__lte=100), name="agreement_report_progress_range"
            ),
        ]
        indexes = [
            models.Index(fields=["project", "status", "-created_at"], name="agreement_report_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.project} agreement report {self.pk} ({self.status})"
