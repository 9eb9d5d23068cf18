"""Assignments (leases on examples), annotations (one rater's label for one example, stamped with
the guideline in force), and what the decision rules make of an example's labels: its consensus
label, or a disagreement queued for an SME."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models import TimeStampedModel
from projects.models import Example, GuidelineVersion, Label, Project


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
    # A live lease's place in the rater's queue (1..project.lease_queue_size), unique per rater
    # and project among leases: the database holds a rater to at most that many leases, as
    # `slot` holds an example to k raters.
    queue_position = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["example", "rater"], name="assignment_one_per_rater_and_example"),
            models.UniqueConstraint(
                fields=["example", "slot"],
                condition=Q(status__in=["leased", "submitted"]),
                name="assignment_active_slot_unique",
            ),
            # At most lease_queue_size leases per rater and project, one per queue position: a
            # reload or a second tab gets the same examples back. The condition names the position
            # (NULLs never conflict in a unique index, so the constraint is the same), so only a
            # query that names it too can use the index: the walk's count of an example's live
            # leases, planned on statistics that saw few leases, scanned it whole per candidate.
            models.UniqueConstraint(
                fields=["project", "rater", "queue_position"],
                condition=Q(status="leased", queue_position__isnull=False),
                name="assignment_lease_queue_position_unique",
            ),
            models.CheckConstraint(
                condition=~Q(status="leased") | Q(queue_position__gte=1, queue_position__lte=10),
                name="assignment_lease_queue_position_range",
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
    # What the rater answered, by the project's task type: `label` (single), `labels` (multi: the
    # sorted ids of the chosen labels, [] for "none of these") or `spans` (spans: sorted
    # [start, end, label_id] character offsets). Exactly one is set.
    label = models.ForeignKey(
        Label, null=True, blank=True, on_delete=models.PROTECT, related_name="annotations"
    )
    labels = models.JSONField(null=True, blank=True)
    spans = models.JSONField(null=True, blank=True)
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
            models.CheckConstraint(
                condition=Q(label__isnull=False, labels__isnull=True, spans__isnull=True)
                | Q(label__isnull=True, labels__isnull=False, spans__isnull=True)
                | Q(label__isnull=True, labels__isnull=True, spans__isnull=False),
                name="annotation_one_answer",
            ),
        ]
        indexes = [
            models.Index(fields=["rater", "-created_at"], name="annotation_rater_recent_idx"),
        ]

    def __str__(self) -> str:
        answer = (
            self.label
            if self.label_id is not None
            else (self.labels if self.labels is not None else self.spans)
        )
        return f"{self.rater} labeled {self.example_id} as {answer}"


class ConsensusLabel(models.Model):
    """The current consensus of one example: what the dataset release reads.

    Rewritten by the disagreement rules (unanimous, majority), by an SME's resolution (gold, or
    excluded with no label), and removed when the example goes back for relabeling.
    """

    class Source(models.TextChoices):
        GOLD = "gold", "SME gold label"
        UNANIMOUS = "unanimous", "Unanimous"
        MAJORITY = "majority", "Accepted majority"
        EXCLUDED = "excluded", "Excluded as genuinely ambiguous"

    example = models.OneToOneField("projects.Example", on_delete=models.CASCADE, related_name="consensus")
    # As on Annotation: `label` (single), `labels` (multi) or `spans` (spans); none when excluded.
    label = models.ForeignKey(
        "projects.Label", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    labels = models.JSONField(null=True, blank=True)
    spans = models.JSONField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    agreement = models.FloatField(null=True, blank=True, help_text="Share of raters who chose the label.")
    n_raters = models.PositiveSmallIntegerField(default=0)
    decided_at = models.DateTimeField()

    class Meta:
        db_table = "consistency_consensuslabel"  # its first home's table: triggers and raw SQL name it
        # The example browser's filters by final label, by status (source) and by agreement.
        indexes = [
            models.Index(fields=["label", "example"], name="consensus_label_idx"),
            models.Index(fields=["source", "example"], name="consensus_source_idx"),
            models.Index(fields=["agreement", "example"], name="consensus_agreement_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(source__in=["gold", "unanimous", "majority", "excluded"]),
                name="consensus_source_valid",
            ),
            models.CheckConstraint(
                condition=Q(source="excluded", label__isnull=True, labels__isnull=True, spans__isnull=True)
                | (
                    ~Q(source="excluded")
                    & (
                        Q(label__isnull=False, labels__isnull=True, spans__isnull=True)
                        | Q(label__isnull=True, labels__isnull=False, spans__isnull=True)
                        | Q(label__isnull=True, labels__isnull=True, spans__isnull=False)
                    )
                ),
                name="consensus_label_matches_source",
            ),
        ]

    def __str__(self) -> str:
        return f"example {self.example_id}: {self.label_id} ({self.source})"


class Disagreement(models.Model):
    """An example the rules sent to the SME queue. At most one open per example."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    class Reason(models.TextChoices):
        SPLIT = "split", "Votes split evenly"
        BELOW_THRESHOLD = "below_threshold", "Majority below the threshold"
        AMBIGUOUS = "ambiguous", "Flagged ambiguous by a rater"
        MAJORITY_REVIEW = "majority_review", "Majority sent for review"
        LABEL_ISSUE = "label_issue", "Likely label error (label-issue ranking)"

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="disagreements")
    example = models.ForeignKey("projects.Example", on_delete=models.CASCADE, related_name="disagreements")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    # The two most-voted labels, for filtering the queue by label pair (label_b null: one label only).
    label_a = models.ForeignKey(
        "projects.Label", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    label_b = models.ForeignKey(
        "projects.Label", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    majority_share = models.FloatField(null=True, blank=True)
    # Why a case was sent (a label issue): one sentence, written by consistency.quality.messages.
    reason_detail = models.CharField(max_length=500, blank=True, default="", db_default="")
    guideline_versions = models.ManyToManyField(
        "projects.GuidelineVersion", blank=True, related_name="disagreements"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "consistency_disagreement"  # its first home's table: triggers and raw SQL name it
        ordering = ["project", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["example"], condition=Q(status="open"), name="disagreement_one_open_per_example"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["open", "resolved"]), name="disagreement_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(
                    reason__in=["split", "below_threshold", "ambiguous", "majority_review", "label_issue"]
                ),
                name="disagreement_reason_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "status", "created_at"], name="disagreement_queue_idx"),
        ]

    def __str__(self) -> str:
        return f"disagreement {self.pk} on example {self.example_id} ({self.status})"


class LabelingEvent(models.Model):
    """What happened to an example that the current rows no longer show: a lease handed out or
    given back when it expired, a skip, the earlier values of an annotation that was edited or
    undone (`details` keeps them: label id and name, ambiguous, notes, guideline version), a
    queued case withdrawn when its example was sent back for relabeling, and an automatic decision
    (unanimous or majority) withdrawn or replaced (`details` keeps what it was and when).

    Append-only: the database refuses updates (migration 0005), so an edit or an undo never loses
    what was there before; rows go only with their example. The example page's timeline reads these
    next to the annotations, decisions, resolutions, relabel requests and releases.
    """

    class Kind(models.TextChoices):
        LEASED = "leased", "Example handed out"
        LEASE_EXPIRED = "lease_expired", "Lease expired, example back in the pool"
        SKIPPED = "skipped", "Skipped"
        EDITED = "edited", "Label edited"
        UNDONE = "undone", "Label undone"
        UNQUEUED = "unqueued", "Taken out of the review queue: sent back for relabeling"
        UNDECIDED = "undecided", "Decision withdrawn: labels changed or sent back"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="labeling_events")
    # None for what Concord did itself (a queued case withdrawn when its example is sent back).
    rater = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    at = models.DateTimeField()
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["example", "at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    kind__in=[
                        "leased",
                        "lease_expired",
                        "skipped",
                        "edited",
                        "undone",
                        "unqueued",
                        "undecided",
                    ]
                ),
                name="labeling_event_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rater} {self.kind} example {self.example_id} at {self.at:%Y-%m-%d %H:%M}"


def decision_withdrawn_event(consensus: ConsensusLabel, *, project_id: int, at, why: str) -> LabelingEvent:
    """The history row keeping an automatic decision that is about to be dropped or replaced
    (SME verdicts stay as Resolution rows and need none)."""
    return LabelingEvent(
        project_id=project_id,
        example_id=consensus.example_id,
        kind=LabelingEvent.Kind.UNDECIDED,
        at=at,
        details={
            "label_name": consensus.label.name if consensus.label_id else None,
            **({"labels": consensus.labels} if consensus.labels is not None else {}),
            **({"spans": consensus.spans} if consensus.spans is not None else {}),
            "source": consensus.source,
            "agreement": consensus.agreement,
            "n_raters": consensus.n_raters,
            "decided_at": consensus.decided_at.isoformat(),
            "why": why,
        },
    )
