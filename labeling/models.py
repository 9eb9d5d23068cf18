"""Assignments (leases on examples) and annotations: one rater's label for one example,
stamped with the guideline in force."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from consistency.models import GuidelineVersion
from core.models import TimeStampedModel
from projects.models import Example, Label, Project


class Assignment(TimeStampedModel):
    """One rater's claim on one example: a time-limited lease, then submitted, skipped or released.

    `slot` is the seat (1..k) the rater occupies on the example while the assignment is active
    (leased or submitted). The partial unique constraint on (example, slot) means no more than
    k raters can hold an example as long as the service hands out slots 1..k only.
    """

    class Status(models.TextChoices):
        LEASED = "leased", "Leased"
        SUBMITTED = "submitted", "Submitted"
        SKIPPED = "skipped", "Skipped"
        RELEASED = "released", "Released"

    ACTIVE = (Status.LEASED, Status.SUBMITTED)

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments")
    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="assignments")
    # No index on rater alone: a rater's assignments are found through (project, rater, status),
    # and the next-example query must probe (example, rater) per candidate, never walk a rater's
    # whole history, so no index may tempt the planner to.
    rater = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments", db_index=False
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.LEASED)
    slot = models.PositiveSmallIntegerField()
    expires_at = models.DateTimeField(null=True, blank=True)
    skip_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["example", "rater"], name="assignment_one_per_rater_and_example"),
            models.UniqueConstraint(
                fields=["example", "slot"],
                condition=Q(status__in=["leased", "submitted"]),
                name="assignment_active_slot_unique",
            ),
            # One lease per rater and project: a reload or a second tab gets the same example back.
            models.UniqueConstraint(
                fields=["project", "rater"],
                condition=Q(status="leased"),
                name="assignment_one_lease_per_rater",
            ),
            models.CheckConstraint(condition=Q(slot__gte=1, slot__lte=25), name="assignment_slot_range"),
            models.CheckConstraint(
                condition=Q(status__in=["leased", "submitted", "skipped", "released"]),
                name="assignment_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status="leased") | Q(expires_at__isnull=False), name="assignment_lease_expires"
            ),
        ]
        indexes = [
            # Counting live leases of a candidate example stays an index probe.
            models.Index(
                fields=["example", "expires_at"], condition=Q(status="leased"), name="assignment_live_idx"
            ),
            models.Index(fields=["project", "rater", "status"], name="assignment_rater_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.rater} {self.status} example {self.example_id} (slot {self.slot})"


class Annotation(TimeStampedModel):
    class Source(models.TextChoices):
        LABELING = "labeling", "Labeled in Concord"
        IMPORT = "import", "Imported"

    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="annotations")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="annotations")
    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="annotations")
    guideline_version = models.ForeignKey(
        GuidelineVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="annotations"
    )
    ambiguous = models.BooleanField(default=False)
    ambiguous_note = models.CharField(max_length=1000, blank=True)
    note = models.CharField(max_length=2000, blank=True)
    time_spent_ms = models.PositiveIntegerField(null=True, blank=True)
    # Idempotency key from the labeling form: a retried or double submit carries the same token.
    client_token = models.UUIDField(null=True, blank=True, unique=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.LABELING)
    # Set when the example was sent back for relabeling under a newer guideline: the annotation
    # stays as history (agreement per guideline version) but no longer counts for the example.
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["example", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["example", "rater"],
                condition=Q(superseded_at__isnull=True),
                name="annotation_one_current_per_rater_and_example",
            ),
            models.CheckConstraint(
                condition=Q(source__in=["labeling", "import"]), name="annotation_source_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["rater", "-created_at"], name="annotation_rater_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.rater} labeled {self.example_id} as {self.label}"
