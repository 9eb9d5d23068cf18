"""The SME's side of review: resolutions of disagreements, worked examples added to the guideline
draft, and requests to relabel examples under a newer guideline."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Resolution(models.Model):
    """An SME's final word on a disagreement. Never edited: a revision is a new resolution that
    supersedes the previous one (unique, so two concurrent revisions cannot both win). The current
    resolution of an example is its newest."""

    class Verdict(models.TextChoices):
        GOLD = "gold", "Gold label"
        EXCLUDED = "excluded", "Genuinely ambiguous: keep out of the dataset"

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="resolutions")
    disagreement = models.ForeignKey(
        "labeling.Disagreement", on_delete=models.CASCADE, related_name="resolutions"
    )
    example = models.ForeignKey("projects.Example", on_delete=models.CASCADE, related_name="resolutions")
    label = models.ForeignKey(
        "projects.Label", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A gold label on a single-label project; a gold label set (sorted label ids, [] for "none of
    # these") on a multi-label one; gold spans (sorted [start, end, label_id], [] for "no
    # entities") on a span one. None of them when excluded.
    labels = models.JSONField(null=True, blank=True)
    spans = models.JSONField(null=True, blank=True)
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
                condition=Q(verdict="gold", label__isnull=False, labels__isnull=True, spans__isnull=True)
                | Q(verdict="gold", label__isnull=True, labels__isnull=False, spans__isnull=True)
                | Q(verdict="gold", label__isnull=True, labels__isnull=True, spans__isnull=False)
                | Q(verdict="excluded", label__isnull=True, labels__isnull=True, spans__isnull=True),
                name="resolution_label_matches_verdict",
            ),
        ]

    def __str__(self) -> str:
        return f"resolution {self.pk} of example {self.example_id} ({self.verdict})"


class WorkedExample(models.Model):
    """A resolved case an SME added to the guideline draft, linked back to its example."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="worked_examples")
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

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="relabel_requests")
    scope = models.CharField(max_length=16, choices=Scope.choices)
    guideline_version = models.ForeignKey(
        "projects.GuidelineVersion",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The version in force.",
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


class ReviewQuestion(models.Model):
    """An SME's question to one rater about their label on a case, and the rater's answer.

    The rater sees only the example, the question and their own annotation (never the others'
    labels); they answer once, from "My work". A question stays with its case as history.
    """

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="review_questions")
    disagreement = models.ForeignKey(
        "labeling.Disagreement", on_delete=models.CASCADE, related_name="questions"
    )
    example = models.ForeignKey("projects.Example", on_delete=models.CASCADE, related_name="+")
    annotation = models.ForeignKey("labeling.Annotation", on_delete=models.CASCADE, related_name="questions")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    asked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    question = models.TextField()
    asked_at = models.DateTimeField(auto_now_add=True)
    answer = models.TextField(blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["asked_at", "id"]
        indexes = [models.Index(fields=["rater", "project", "-asked_at"], name="review_question_rater_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(answered_at__isnull=True) | ~Q(answer=""), name="review_question_answer_given"
            ),
        ]

    def __str__(self) -> str:
        return f"question to {self.rater} on example {self.example_id}"
