"""Dataset releases: immutable snapshots of the clean labels, and the examples each one holds."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.jobs.models import Job, JobState


class DatasetRelease(Job):
    """An immutable snapshot of the project's clean labels, cut with a policy.

    Built once, in the background (a core.jobs job of kind "release"), into private storage; once
    ready it never changes (a new release is created instead). `sha256` is the digest of the
    canonical JSONL file. Its status keeps the words releases always had for a running and a
    succeeded job, "building" and "ready"; a release waiting for a worker is "queued", which the
    API still calls "building".
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        BUILDING = "building", "Building"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    STATUS_WORDS = {
        JobState.QUEUED: Status.QUEUED,
        JobState.RUNNING: Status.BUILDING,
        JobState.SUCCEEDED: Status.READY,
        JobState.FAILED: Status.FAILED,
    }
    JOB_KIND = "release"

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="dataset_releases")
    tag = models.CharField(max_length=40)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    policy = models.JSONField(default=dict)
    guideline_version = models.ForeignKey(
        "projects.GuidelineVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    agreement_report = models.ForeignKey(
        "consistency.AgreementReport", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    n_items = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True, help_text="Items per label, per split, per both.")
    sha256 = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the JSONL file.")
    jsonl_file = models.CharField(max_length=500, blank=True, help_text="Path in private storage.")
    jsonl_bytes = models.BigIntegerField(default=0)
    csv_file = models.CharField(max_length=500, blank=True, help_text="Path in private storage.")
    csv_bytes = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["project", "-created_at", "-id"]
        get_latest_by = "created_at"
        constraints = [
            models.UniqueConstraint(fields=["project", "tag"], name="dataset_release_tag_unique"),
            models.CheckConstraint(
                condition=Q(tag__regex=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$"), name="dataset_release_tag_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "building", "ready", "failed"]),
                name="dataset_release_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(progress_percent__lte=100), name="dataset_release_progress_range"
            ),
        ]
        indexes = [
            models.Index(fields=["project", "status", "-created_at"], name="dataset_release_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.project} release {self.tag} ({self.status})"

    @property
    def api_status(self) -> str:
        """The API's word: "building" until the release is ready or failed, as it always was."""
        return self.Status.BUILDING if self.status == self.Status.QUEUED else self.status


class DatasetReleaseItem(models.Model):
    """One example as it went into a release: what diffs, stable splits and the files read.

    A build writes up to millions of these at once, so the table is cheap to load: no database
    foreign keys (their checks, one per row and key, cost more than the load itself; the build is
    the only writer, inside the claimed release's transaction, and Django's on_delete still
    cascades from a release and nulls the link of a deleted example), no index of its own on
    `release` (the unique (release, external_id) index serves it), and immutability is checked
    once per statement, not per row (migration 0011).
    """

    release = models.ForeignKey(
        DatasetRelease, on_delete=models.CASCADE, related_name="items", db_index=False, db_constraint=False
    )
    # Kept when the example is deleted later: the release's file and its items stay as they were.
    example = models.ForeignKey(
        "projects.Example",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    external_id = models.CharField(max_length=255)
    label = models.TextField(
        help_text="The label's name when released (multi-label: the names joined by |; spans: "
        "start:end:label per span joined by |, as 0:12:PER|17:24:ORG, empty for no entities)."
    )
    labels = models.JSONField(
        null=True, blank=True, help_text="Multi-label projects: the released label names, as a list."
    )
    spans = models.JSONField(
        null=True,
        blank=True,
        help_text="Span projects: the released spans, sorted [start, end, label name] (code point offsets).",
    )
    source = models.CharField(max_length=16)
    split = models.CharField(max_length=8)
    agreement = models.FloatField(null=True, blank=True)
    n_raters = models.PositiveSmallIntegerField(default=0)
    guideline_versions = models.JSONField(default=list, blank=True)
    rationale = models.TextField(null=True, blank=True)
    raters = models.JSONField(null=True, blank=True, help_text="{pseudonymous rater id: label name}")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["release", "external_id"], name="dataset_release_item_unique"),
            models.CheckConstraint(
                condition=Q(split__in=["train", "dev", "test"]), name="dataset_release_item_split_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.external_id}: {self.label} ({self.split})"


class ReleaseExport(models.Model):
    """A file derived from a ready release's JSONL for a tool (Parquet per split, a Hugging Face
    dataset, Label Studio tasks), written on its first download and kept: the release itself never
    changes, so neither does the file. See consistency.releases.exports."""

    release = models.ForeignKey(DatasetRelease, on_delete=models.CASCADE, related_name="exports")
    file_format = models.CharField(max_length=32)
    file = models.CharField(max_length=500, help_text="Path in private storage.")
    bytes = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["release", "file_format"], name="release_export_format_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.release} as {self.file_format}"
