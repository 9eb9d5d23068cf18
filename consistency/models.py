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


class AgreementReport(models.Model):
    """One snapshot of inter-rater agreement for a project, computed in the background.

    Append-only once finished: a succeeded or failed report is never recomputed; a refresh creates
    a new report, so past reports form the history the dashboard charts. At most one report per
    project waits in the queue at a time (the partial unique constraint), which is what makes the
    automatic refresh after new annotations debounced.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Requested on the dashboard"
        AUTO = "auto", "After new annotations"
        COMMAND = "command", "Command line"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="agreement_reports")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    slice_field = models.CharField(
        max_length=255, blank=True, help_text="Metadata field the slices were computed for; empty for none."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    progress_percent = models.PositiveSmallIntegerField(default=0)
    progress_text = models.CharField(max_length=200, blank=True)
    n_annotations = models.PositiveIntegerField(
        default=0, help_text="Annotations the report was computed on."
    )
    result = models.JSONField(null=True, blank=True, help_text="The agreement JSON contract.")
    error = models.TextField(blank=True)

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

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)


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
    label = models.ForeignKey(
        "projects.Label", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    source = models.CharField(max_length=16, choices=Source.choices)
    agreement = models.FloatField(null=True, blank=True, help_text="Share of raters who chose the label.")
    n_raters = models.PositiveSmallIntegerField(default=0)
    decided_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(source__in=["gold", "unanimous", "majority", "excluded"]),
                name="consensus_source_valid",
            ),
            models.CheckConstraint(
                condition=Q(source="excluded", label__isnull=True)
                | (~Q(source="excluded") & Q(label__isnull=False)),
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

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="disagreements")
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
    guideline_versions = models.ManyToManyField(GuidelineVersion, blank=True, related_name="disagreements")
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["example"], condition=Q(status="open"), name="disagreement_one_open_per_example"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["open", "resolved"]), name="disagreement_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(reason__in=["split", "below_threshold", "ambiguous", "majority_review"]),
                name="disagreement_reason_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "status", "created_at"], name="disagreement_queue_idx"),
        ]

    def __str__(self) -> str:
        return f"disagreement {self.pk} on example {self.example_id} ({self.status})"


class Resolution(models.Model):
    """An SME's final word on a disagreement. Never edited: a revision is a new resolution that
    supersedes the previous one (unique, so two concurrent revisions cannot both win). The current
    resolution of an example is its newest."""

    class Verdict(models.TextChoices):
        GOLD = "gold", "Gold label"
        EXCLUDED = "excluded", "Genuinely ambiguous: keep out of the dataset"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="resolutions")
    disagreement = models.ForeignKey(Disagreement, on_delete=models.CASCADE, related_name="resolutions")
    example = models.ForeignKey("projects.Example", on_delete=models.CASCADE, related_name="resolutions")
    label = models.ForeignKey(
        "projects.Label", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    guideline_gap = models.BooleanField(default=False)
    rationale = models.TextField(blank=True)
    sme = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="resolutions")
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["example", "-created_at", "-id"]
        constraints = [
            # One first resolution per disagreement; revisions chain through `supersedes`.
            models.UniqueConstraint(
                fields=["disagreement"],
                condition=Q(supersedes__isnull=True),
                name="resolution_one_first_per_disagreement",
            ),
            models.CheckConstraint(
                condition=Q(verdict="gold", label__isnull=False) | Q(verdict="excluded", label__isnull=True),
                name="resolution_label_matches_verdict",
            ),
        ]

    def __str__(self) -> str:
        return f"resolution {self.pk} of example {self.example_id} ({self.verdict})"


class WorkedExample(models.Model):
    """A resolved case an SME added to the guideline draft, linked back to its example."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="worked_examples")
    resolution = models.OneToOneField(Resolution, on_delete=models.CASCADE, related_name="worked_example")
    example = models.ForeignKey("projects.Example", on_delete=models.CASCADE, related_name="worked_examples")
    text = models.TextField(help_text="The Markdown appended to the draft.")
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"worked example from resolution {self.resolution_id}"


class RelabelRequest(models.Model):
    """A manager sent examples back for relabeling: when, under which version, which examples and why.

    The scope is the why, and it matters to the before/after comparison: "disagreements" picks
    examples because their raters disagreed, so a second labeling of them looks better even when
    nothing changed (regression to the mean); "older" and "sample" pick examples whatever their
    labels were. Append-only history.
    """

    class Scope(models.TextChoices):
        DISAGREEMENTS = "disagreements", "The examples whose disagreements led to the change"
        OLDER = "older", "Every example labeled under an older version"
        SAMPLE = "sample", "A random sample of those"

    # Scopes whose choice of examples depended on the examples' labels.
    OUTCOME_SELECTED = (Scope.DISAGREEMENTS,)

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="relabel_requests")
    scope = models.CharField(max_length=16, choices=Scope.choices)
    guideline_version = models.ForeignKey(
        GuidelineVersion, on_delete=models.PROTECT, related_name="+", help_text="The version in force."
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sample_size = models.PositiveIntegerField(null=True, blank=True, help_text="Scope sample only.")
    seed = models.BigIntegerField(null=True, blank=True, help_text="Of the random sample, to redraw it.")
    n_examples = models.PositiveIntegerField(default=0, help_text="Examples sent back.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(scope__in=["disagreements", "older", "sample"]),
                name="relabel_request_scope_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project} relabel request {self.pk} ({self.scope}, {self.n_examples} examples)"


class RelabeledExample(models.Model):
    """One example a relabel request sent back.

    `annotation_mark` is the highest annotation id when it was sent back (under the example's
    lock): the example's annotations up to it were labeled before the request, those above it after.
    That splits an example's labels into rounds, each started by the request that preceded it.
    """

    request = models.ForeignKey(RelabelRequest, on_delete=models.CASCADE, related_name="examples")
    example = models.ForeignKey("projects.Example", on_delete=models.CASCADE, related_name="+")
    annotation_mark = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["request", "example"], name="relabeled_example_once_per_request"),
        ]

    def __str__(self) -> str:
        return f"example {self.example_id} in relabel request {self.request_id}"


class DatasetRelease(models.Model):
    """An immutable snapshot of the project's clean labels, cut with a policy.

    Built once, in the background, into private storage; once ready it never changes (a new
    release is created instead). `sha256` is the digest of the canonical JSONL file.
    """

    class Status(models.TextChoices):
        BUILDING = "building", "Building"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="dataset_releases")
    tag = models.CharField(max_length=40)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    policy = models.JSONField(default=dict)
    guideline_version = models.ForeignKey(
        GuidelineVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    agreement_report = models.ForeignKey(
        AgreementReport, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.BUILDING)
    progress_percent = models.PositiveSmallIntegerField(default=0)
    progress_text = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
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
                condition=Q(status__in=["building", "ready", "failed"]), name="dataset_release_status_valid"
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
    def is_finished(self) -> bool:
        return self.status in (self.Status.READY, self.Status.FAILED)


class DatasetReleaseItem(models.Model):
    """One example as it went into a release: what diffs and stable splits read."""

    release = models.ForeignKey(DatasetRelease, on_delete=models.CASCADE, related_name="items")
    # Kept when the example is deleted later: the release's file and its items stay as they were.
    example = models.ForeignKey(
        "projects.Example", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    external_id = models.CharField(max_length=255)
    label = models.CharField(max_length=100, help_text="The label's name when released.")
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
