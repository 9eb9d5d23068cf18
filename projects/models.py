"""Projects, who may work in them (Membership), their label set, the examples to label, the imports
that bring them, and the project's guideline: its editable draft and its published versions."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.jobs.models import Job
from core.models import TimeStampedModel

RESERVED_SHORTCUT_KEYS = ("a", "s", "u", "n", "?")  # ambiguous, skip, undo, note, help

# Project addresses that are, or sit beside, fixed path segments under /projects/ and
# /api/v1/projects/: "new" is a page of its own, the others name pages inside a project and are
# kept free so no project's address ever reads like one. tests/projects/test_project_creation.py
# checks the URL configuration against this list.
RESERVED_SLUGS = frozenset(
    {
        "agreement", "annotations", "answer", "assignments", "audit", "bulk", "deactivate", "delete", "diff",
        "disagreements", "dismiss", "download", "draft", "draw", "examples", "export", "gold", "guideline",
        "guideline-versions", "guidelines", "import", "imports", "invitations", "label", "label-issues",
        "labels", "media", "media-list", "members", "models", "my-work", "new", "next", "predictions",
        "progress", "publish", "quality", "questions", "recent", "relabel", "releases", "remove", "report",
        "reports", "resolutions", "resolve", "retry", "review", "revise", "revoke", "run", "sample",
        "settings", "skip", "status", "submit", "tags", "undo", "worked-example",
    }
)  # fmt: skip


class KappaWeights(models.TextChoices):
    """Weights of Cohen's kappa on an ordinal scale of q labels, for labels i and j."""

    QUADRATIC = "quadratic", "Quadratic: 1 - (i-j)²/(q-1)², near misses count almost as agreement"
    LINEAR = "linear", "Linear: 1 - |i-j|/(q-1), each step away costs the same"


# Joins the labels of a set where a file has one cell for them (CSV imports and releases): a
# label's name never contains it.
LABEL_SEPARATOR = "|"


class TaskType(models.TextChoices):
    """What one annotation is. Fixed once the project has annotations."""

    SINGLE = "single", "Single label: one label per example (ordinal when the labels are ordered)"
    MULTI = "multi", "Multi-label: a set of labels per example"
    SPANS = "spans", "Spans: labeled character spans in the text (named entities)"


class Project(TimeStampedModel):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    overlap = models.PositiveSmallIntegerField(
        default=3, help_text="How many distinct raters label each example (k)."
    )
    task_type = models.CharField(
        max_length=16,
        choices=TaskType.choices,
        default=TaskType.SINGLE,
        db_default=TaskType.SINGLE,
        help_text="What one annotation is; fixed once the project has annotations.",
    )
    allow_empty_label_set = models.BooleanField(
        default=False,
        db_default=False,
        help_text='Multi-label: a rater may answer "none of these" (an empty set).',
    )
    spans_may_nest = models.BooleanField(
        default=False,
        db_default=False,
        help_text="Spans: one annotation's spans may nest or overlap (otherwise they may not cross).",
    )
    labels_are_ordinal = models.BooleanField(
        default=False, help_text="Labels are ordered (e.g. a severity scale): weighted statistics apply."
    )
    kappa_weights = models.CharField(
        max_length=16,
        choices=KappaWeights.choices,
        default=KappaWeights.QUADRATIC,
        help_text="For ordinal labels: how Cohen's kappa weighs a disagreement by its distance on the scale.",
    )
    lease_minutes = models.PositiveSmallIntegerField(
        default=30, help_text="How long a handed-out example is held for one labeler."
    )
    # Examples each labeler holds at once: the labeling page shows the next one the moment a key
    # is pressed while the label before it is saved in the background.
    lease_queue_size = models.PositiveSmallIntegerField(
        default=2, help_text="Examples held for each labeler at once (1 to 10); the next one shows instantly."
    )
    visible_metadata = models.JSONField(
        default=list, blank=True, help_text="Metadata fields shown to labelers next to the text."
    )
    # Disagreement rules (the review workflow): a majority share at or above the threshold
    # is accepted or queued for an SME; anything below is always queued.
    majority_threshold = models.FloatField(default=0.66)
    accept_majority = models.BooleanField(default=False)
    extra_raters_on_split = models.PositiveSmallIntegerField(default=0)
    # The data-centric loop (issue 14): the share of a labeler's next examples drawn from gold
    # examples that still have seats (honeypots), and how many likely label issues go to review.
    honeypot_rate = models.FloatField(
        default=0.0,
        db_default=0.0,
        help_text="Share of handed-out examples that are gold examples (honeypots), 0 to 0.5.",
    )
    label_issue_top_n = models.PositiveIntegerField(
        default=50, db_default=50, help_text="How many likely label issues one run sends to the review queue."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(overlap__gte=1, overlap__lte=25), name="project_overlap_range"
            ),
            models.CheckConstraint(
                condition=Q(task_type__in=["single", "multi", "spans"]), name="project_task_type_valid"
            ),
            models.CheckConstraint(
                condition=Q(lease_minutes__gte=1, lease_minutes__lte=24 * 60), name="project_lease_range"
            ),
            models.CheckConstraint(
                condition=Q(lease_queue_size__gte=1, lease_queue_size__lte=10),
                name="project_lease_queue_range",
            ),
            models.CheckConstraint(
                condition=Q(majority_threshold__gt=0.5, majority_threshold__lte=1.0),
                name="project_majority_threshold_range",
            ),
            models.CheckConstraint(
                condition=Q(extra_raters_on_split__lte=10), name="project_extra_raters_range"
            ),
            models.CheckConstraint(
                condition=Q(kappa_weights__in=["linear", "quadratic"]), name="project_kappa_weights_valid"
            ),
            models.CheckConstraint(
                condition=Q(honeypot_rate__gte=0.0, honeypot_rate__lte=0.5),
                name="project_honeypot_rate_range",
            ),
            models.CheckConstraint(
                condition=Q(label_issue_top_n__gte=1, label_issue_top_n__lte=10_000),
                name="project_label_issue_top_n_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    MANAGER = "manager", "Manager"
    SME = "sme", "Subject-matter expert"
    LABELER = "labeler", "Labeler"


class Membership(TimeStampedModel):
    """A user's single role in one project; the same person may hold other roles elsewhere."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)

    class Meta:
        ordering = ["project", "role", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "project"], name="membership_one_role_per_project"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.project}"


class Label(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    shortcut_key = models.CharField(max_length=1, help_text="One key, 1-9 or a letter other than a, s, u, n.")
    colour = models.CharField(max_length=7, default="#4c78a8", help_text="#rrggbb")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["project", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="label_name_unique_in_project"),
            models.UniqueConstraint(fields=["project", "shortcut_key"], name="label_key_unique_in_project"),
            models.CheckConstraint(
                condition=Q(shortcut_key__regex=r"^[0-9a-z]$") & ~Q(shortcut_key__in=RESERVED_SHORTCUT_KEYS),
                name="label_key_valid",
            ),
            models.CheckConstraint(condition=Q(colour__regex=r"^#[0-9a-fA-F]{6}$"), name="label_colour_hex"),
        ]

    def __str__(self) -> str:
        return self.name


class ImportBatch(Job):
    """One background job (core.jobs) with its counts and errors: importing an uploaded file of
    examples or annotations ("import" jobs), or re-deciding a project's examples after its review
    rules changed ("decisions" jobs).

    Counts are `bytes_read` of `bytes_total`: bytes of the file for an import, examples for a
    re-deciding job (which has no file). `options` holds what the job was asked to do (e.g. a
    Label Studio control name), `summary` the kind-specific counts of a finished job, `errors` the
    first problems of a failed one (line, column, message) and `error_count` how many there were.
    """

    class Kind(models.TextChoices):
        EXAMPLES = "examples", "Examples"
        ANNOTATIONS = "annotations", "Annotations"
        DECISIONS = "decisions", "Re-deciding examples"
        GOLD = "gold", "Gold labels"
        PREDICTIONS = "predictions", "Model predictions"

    IMPORT_KINDS = (Kind.EXAMPLES, Kind.ANNOTATIONS, Kind.GOLD, Kind.PREDICTIONS)

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_batches")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.EXAMPLES)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_name = models.CharField(max_length=255)
    file_format = models.CharField(max_length=16)
    stored_file = models.CharField(max_length=500, blank=True, help_text="Path in private storage.")
    bytes_total = models.BigIntegerField(default=0)
    bytes_read = models.BigIntegerField(default=0)
    rows_read = models.BigIntegerField(default=0)
    rows_created = models.BigIntegerField(default=0)
    rows_skipped = models.BigIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    error_count = models.PositiveIntegerField(default=0)
    options = models.JSONField(default=dict, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.source_name} ({self.status})"

    @property
    def job_kind(self) -> str:
        return "decisions" if self.kind == self.Kind.DECISIONS else "import"

    @property
    def percent(self) -> int | None:
        """0-99 while queued or running (the share of the file read, or of the examples decided),
        100 once succeeded, None once failed: a failed job has no progress to show."""
        if self.status == self.Status.SUCCEEDED:
            return 100
        if self.status == self.Status.FAILED:
            return None
        if not self.bytes_total:
            return 0
        return min(99, int(100 * self.bytes_read / self.bytes_total))


class Example(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="examples")
    external_id = models.CharField(max_length=255)
    text = models.TextField()
    data = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    import_batch = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="examples"
    )
    # Denormalised count of annotations, kept by the labeling services under the example's
    # row lock, so choosing the next example never counts annotations per request.
    annotation_count = models.PositiveSmallIntegerField(default=0)
    # Raters asked on top of the project's overlap because the votes split (adaptive overlap):
    # the example's effective k is overlap + extra_raters.
    extra_raters = models.PositiveSmallIntegerField(default=0, db_default=0)  # raw imports omit it
    # A hint for choosing the next example, written by labeling when it leases a seat: how many
    # seats were leased then and when the first of those leases ends. Until that time the example
    # is passed over without looking at its leases if the hint says it is full (annotations plus
    # leased seats reach its k). Freeing a seat lowers it; a path that forgets only hides the
    # example until that time, and a hint that counts too few only costs the exact look.
    seats_leased = models.PositiveSmallIntegerField(default=0, db_default=0)
    seats_leased_until = models.DateTimeField(null=True, blank=True)
    # An image or audio example (imported from a ZIP): its file in private storage, named by its
    # content (media/<project>/<sha256>.<ext>), served only by projects.views.media. Text-only
    # examples leave these empty (db_default: raw imports omit them).
    media_file = models.CharField(max_length=300, blank=True, default="", db_default="")
    media_name = models.CharField(max_length=255, blank=True, default="", db_default="")
    media_type = models.CharField(max_length=40, blank=True, default="", db_default="")
    media_sha256 = models.CharField(max_length=64, blank=True, default="", db_default="")
    media_bytes = models.BigIntegerField(default=0, db_default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "external_id"], name="example_external_id_unique"),
        ]
        indexes = [
            models.Index(fields=["project", "annotation_count", "id"], name="example_project_count_idx"),
            # Examples granted extra raters (adaptive overlap): the only ones that can take a label
            # at overlap labels or more, so choosing the next example at those counts does not
            # walk every complete example.
            models.Index(
                fields=["project", "annotation_count", "id"],
                condition=Q(extra_raters__gt=0),
                name="example_split_count_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.external_id}: {self.text[:40]}"

    @property
    def media_kind(self) -> str:
        """ "image", "audio" or "" (a text example)."""
        return self.media_type.split("/", 1)[0] if self.media_type else ""


class GuidelineVersion(models.Model):
    """A published guideline. Append-only: once written it never changes; a new one is created."""

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="guideline_versions"
    )
    number = models.PositiveIntegerField()
    body = models.TextField(help_text="Markdown.")
    changelog = models.CharField(max_length=500)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "consistency_guidelineversion"  # its first home's table: triggers and raw SQL name it
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

    project = models.OneToOneField(
        "projects.Project", on_delete=models.CASCADE, related_name="guideline_draft"
    )
    body = models.TextField(blank=True)
    based_on = models.ForeignKey(
        "projects.GuidelineVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "consistency_guidelinedraft"  # its first home's table: triggers and raw SQL name it

    def __str__(self) -> str:
        return f"{self.project} guideline draft"


class Invitation(models.Model):
    """A manager's invitation of someone, by email, to a project with a role.

    The link mailed out carries a signed token (the id and a random nonce, see
    projects.services.invitations): tampering breaks the signature, it expires after
    CONCORD_INVITATION_DAYS, and it works once (accepted_at, set under the row lock). Accepting
    links the invitation to an account: the existing one holding the address, or a new one.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices)
    nonce = models.CharField(max_length=32)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(role__in=Role.values), name="invitation_role_valid"),
        ]
        indexes = [models.Index(fields=["project", "email"], name="invitation_project_email_idx")]

    def __str__(self) -> str:
        return f"invitation of {self.email} to {self.project} as {self.role}"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()


class ExampleTag(models.Model):
    """A word a manager or SME puts on an example to find it again ("tricky", "legal-review")."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=50)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["example", "name"]
        constraints = [
            models.UniqueConstraint(fields=["example", "name"], name="example_tag_unique"),
            models.CheckConstraint(
                condition=Q(name__regex=r"^[a-z0-9][a-z0-9_.-]*$"), name="example_tag_name_valid"
            ),
        ]
        indexes = [models.Index(fields=["project", "name", "example"], name="example_tag_filter_idx")]

    def __str__(self) -> str:
        return f"{self.name} on example {self.example_id}"


class GoldLabel(models.Model):
    """The trusted label of one example: ground truth for human-level performance and models.

    A manager's random draw creates rows without a label (`sampled`) for an SME to label; an import
    writes them with their label (`imported`). `labeled_by` is who wrote the label: that person's
    own annotations are never scored against it. Only rows with a label count as gold.
    """

    class Source(models.TextChoices):
        SAMPLED = "sampled", "Drawn for an SME to label"
        IMPORTED = "imported", "Imported"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="gold_labels", db_index=False)
    example = models.OneToOneField(Example, on_delete=models.CASCADE, related_name="gold")
    label = models.ForeignKey(Label, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=16, choices=Source.choices)
    labeled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    labeled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "example"]
        constraints = [
            models.CheckConstraint(condition=Q(source__in=["sampled", "imported"]), name="gold_source_valid"),
            models.CheckConstraint(
                condition=Q(source="sampled") | Q(label__isnull=False), name="gold_imported_has_label"
            ),
        ]
        indexes = [models.Index(fields=["project", "label", "example"], name="gold_project_label_idx")]

    def __str__(self) -> str:
        return f"gold of example {self.example_id}: {self.label_id}"


class PredictionSet(models.Model):
    """One imported file of a model's predictions: the model's name and version, and which file.

    `file_sha256` tells a re-upload of the same file (nothing to do) from a different file under
    the same name and version (refused unless replaced on purpose). `label_ids` orders the
    per-label probabilities every Prediction row of the set holds (empty when the file had none).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prediction_sets")
    model_name = models.CharField(max_length=100)
    version = models.CharField(max_length=100, blank=True)
    file_sha256 = models.CharField(max_length=64)
    source_name = models.CharField(max_length=255, blank=True)
    label_ids = models.JSONField(default=list, blank=True)
    n_predictions = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "model_name", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "model_name", "version"], name="prediction_set_model_version_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return f"{self.model_name} {self.version}".strip()


class Prediction(models.Model):
    """A model's label for one example, with its score and per-label probabilities if given."""

    prediction_set = models.ForeignKey(PredictionSet, on_delete=models.CASCADE, related_name="predictions")
    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="predictions", db_index=False)
    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="+", db_index=False)
    score = models.FloatField(null=True, blank=True)
    probabilities = models.JSONField(null=True, blank=True)  # in the order of the set's label_ids

    class Meta:
        ordering = ["prediction_set", "example"]
        constraints = [
            models.UniqueConstraint(fields=["prediction_set", "example"], name="prediction_one_per_example"),
        ]
        indexes = [models.Index(fields=["example"], name="prediction_example_idx")]

    def __str__(self) -> str:
        return f"{self.prediction_set_id}: example {self.example_id} -> {self.label_id}"
