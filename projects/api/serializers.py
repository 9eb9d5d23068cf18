"""Thin serializers for the projects API: field lists only, no queries of their own."""

from django.core.validators import RegexValidator
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api import NO_NUL_CHARACTERS, SOME_TEXT, ClosedSerializer
from core.jobs.api import JobSerializer
from projects.importing import FORMATS, UPLOAD_FORMATS
from projects.models import (
    Example,
    GuidelineDraft,
    GuidelineVersion,
    ImportBatch,
    KappaWeights,
    Label,
    Membership,
    Project,
    Role,
    TaskType,
)
from projects.services.guidelines import MAX_GUIDELINE_CHARS
from projects.services.imports import importer_get


class LabelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Label
        fields = ["id", "name", "description", "shortcut_key", "colour", "position"]


class ProjectListSerializer(serializers.ModelSerializer):
    """One of the caller's projects, from their Membership, with their role."""

    slug = serializers.CharField(source="project.slug")
    name = serializers.CharField(source="project.name")
    description = serializers.CharField(source="project.description")
    overlap = serializers.IntegerField(source="project.overlap")
    labels_are_ordinal = serializers.BooleanField(source="project.labels_are_ordinal")
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["slug", "name", "description", "overlap", "labels_are_ordinal", "role"]


class GuidelineInForceSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    changelog = serializers.CharField()
    published_at = serializers.DateTimeField()


class ProjectDetailSerializer(serializers.ModelSerializer):
    """Expects the view to pass `role`, `labels` and `guideline_in_force` in the context."""

    role = serializers.SerializerMethodField()
    labels = serializers.SerializerMethodField()
    guideline_in_force = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "slug",
            "name",
            "description",
            "overlap",
            "task_type",
            "allow_empty_label_set",
            "spans_may_nest",
            "labels_are_ordinal",
            "lease_minutes",
            "role",
            "labels",
            "guideline_in_force",
        ]

    def get_role(self, project) -> str:
        return self.context["role"]

    @extend_schema_field(LabelSerializer(many=True))
    def get_labels(self, project) -> list[dict]:
        return LabelSerializer(self.context["labels"], many=True).data

    @extend_schema_field(GuidelineInForceSerializer(allow_null=True))
    def get_guideline_in_force(self, project) -> dict | None:
        version = self.context["guideline_in_force"]
        return GuidelineInForceSerializer(version).data if version is not None else None


class ExampleMediaSerializer(serializers.Serializer):
    """An example's image or audio file: what it is, and where members download it (the same
    access check, headers and byte ranges as the labeling page's file address)."""

    name = serializers.CharField(help_text="The file's name in the imported ZIP.")
    type = serializers.CharField(help_text="Its content type, checked by content at import.")
    sha256 = serializers.CharField()
    bytes = serializers.IntegerField()
    url = serializers.URLField(help_text="GET it with the same credentials (token or session).")


def example_media_payload(example: Example, *, request) -> dict | None:
    """ExampleMediaSerializer's fields for an example of `request.project`; None without media."""
    if not example.media_file:
        return None
    address = reverse("api:project_example_media", kwargs={"slug": request.project.slug, "id": example.pk})
    return {
        "name": example.media_name,
        "type": example.media_type,
        "sha256": example.media_sha256,
        "bytes": example.media_bytes,
        "url": request.build_absolute_uri(address),
    }


class ExampleSerializer(serializers.ModelSerializer):
    media = serializers.SerializerMethodField(help_text="null for a text example.")

    class Meta:
        model = Example
        fields = ["id", "external_id", "text", "metadata", "media", "annotation_count", "created_at"]

    @extend_schema_field(ExampleMediaSerializer(allow_null=True))
    def get_media(self, example) -> dict | None:
        return example_media_payload(example, request=self.context["request"])


class ExampleFilterSerializer(serializers.Serializer):
    external_id = serializers.CharField(
        required=False, max_length=255, trim_whitespace=False, validators=[NO_NUL_CHARACTERS]
    )
    created_after = serializers.DateTimeField(required=False, help_text="Only examples created after this.")
    has_annotations = serializers.BooleanField(required=False, allow_null=True, default=None)


class ImportRequestSerializer(ClosedSerializer):
    file = serializers.FileField(
        help_text="CSV, TSV, JSON Lines or JSON, or a ZIP of images or audio with a manifest; "
        "the format is read from the name."
    )
    format = serializers.ChoiceField(
        choices=UPLOAD_FORMATS, required=False, help_text="Overrides the file name."
    )


class AnnotationImportRequestSerializer(ClosedSerializer):
    file = serializers.FileField(
        help_text="Long CSV, TSV or JSON Lines (example_id, rater, label, optional text; `labels` for a "
        'multi-label project; in JSON Lines `spans`, a list of {"start", "end", "label"} in code points, '
        "for a span project) or a Label Studio JSON export (.json; choices, or labels results for "
        "spans); the format is read from the name."
    )
    format = serializers.ChoiceField(choices=(), required=False, help_text="Overrides the file name.")
    from_name = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        validators=[NO_NUL_CHARACTERS],
        help_text="Label Studio: the choices (or labels, for spans) control to import when the labeling "
        "config has several.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The annotations importer is registered by the labeling app at start-up.
        self.fields["format"].choices = importer_get(ImportBatch.Kind.ANNOTATIONS).formats


class ImportQueuedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    url = serializers.URLField(help_text="Poll this for progress and errors.")
    job = JobSerializer(read_only=True, help_text="The job's state (core.jobs), as at `url`.")


class ImportErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    column = serializers.CharField(allow_blank=True)
    message = serializers.CharField()


class ImportBatchSerializer(serializers.ModelSerializer):
    percent = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="0-99 while running, 100 when done, null when failed."
    )
    errors = ImportErrorSerializer(many=True)
    summary = serializers.JSONField(
        read_only=True,
        help_text="Annotation imports: annotations, examples, raters and labels created, annotations "
        "skipped and cancelled, and the decisions (unanimous, majority, queued, pending) made.",
    )
    job = JobSerializer(source="*", read_only=True, help_text="The job's state, as for every background job.")

    class Meta:
        model = ImportBatch
        fields = [
            "id",
            "kind",
            "status",
            "source_name",
            "file_format",
            "percent",
            "bytes_total",
            "bytes_read",
            "rows_read",
            "rows_created",
            "rows_skipped",
            "error_count",
            "errors",
            "summary",
            "created_at",
            "started_at",
            "finished_at",
            "job",
        ]


# --------------------------------------------------------------------------------------------------
# Guidelines (published versions only, never the draft)


class GuidelineVersionListSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", allow_null=True, default=None)

    class Meta:
        model = GuidelineVersion
        fields = ["number", "changelog", "author", "published_at"]


class GuidelineVersionSerializer(GuidelineVersionListSerializer):
    class Meta(GuidelineVersionListSerializer.Meta):
        fields = [*GuidelineVersionListSerializer.Meta.fields, "body"]


class GuidelineDiffQuerySerializer(serializers.Serializer):
    a = serializers.IntegerField(
        min_value=1, max_value=2_147_483_647, help_text="The older version's number."
    )
    b = serializers.IntegerField(
        min_value=1, max_value=2_147_483_647, help_text="The newer version's number."
    )


class GuidelineDiffStatsSerializer(serializers.Serializer):
    added = serializers.IntegerField(help_text="Words added.")
    removed = serializers.IntegerField(help_text="Words removed.")


class GuidelineDiffSerializer(serializers.Serializer):
    a = serializers.IntegerField()
    b = serializers.IntegerField()
    html = serializers.CharField(
        help_text="Escaped source of version b, with <del> and <ins> around changes."
    )
    stats = GuidelineDiffStatsSerializer()


# --------------------------------------------------------------------------------------------------
# Writes: bodies are closed (an unknown field is a 400 naming it); services check the rest.

SLUG_VALIDATOR = RegexValidator(r"^[a-z0-9][a-z0-9-]*$", "Use lowercase letters, digits and hyphens.")
# a, n, s and u are the labeling page's own keys (projects.models.RESERVED_SHORTCUT_KEYS).
KEY_VALIDATOR = RegexValidator(r"^[0-9b-mo-rtv-zB-MO-RTV-Z]$", "One key: a digit or a letter but a, n, s, u.")
COLOUR_VALIDATOR = RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour as #rrggbb.")


# Some text, no null characters, and not the separator that joins a set's labels in files.
LABEL_NAME = RegexValidator(
    r"^[^\x00-\x1f\x7f|]*[^\x00-\x1f\x7f\s|][^\x00-\x1f\x7f|]*$",
    "Give one line of text, without | (files join a set's labels with it) or control characters.",
)


def _text(max_length: int, **kwargs) -> serializers.CharField:
    """Text of at most `max_length` characters; unless blank is allowed, not only whitespace."""
    validator = NO_NUL_CHARACTERS if kwargs.get("allow_blank") else SOME_TEXT
    return serializers.CharField(max_length=max_length, validators=[validator], **kwargs)


class LabelWriteSerializer(ClosedSerializer):
    """A label to create (`name` required) or the fields of one to change."""

    name = serializers.CharField(
        max_length=100,
        validators=[LABEL_NAME],
        help_text="Unique in the project (ignoring case); one line, without | (files join a set's labels "
        "with it) or control characters.",
    )
    description = _text(5000, required=False, allow_blank=True)
    key = serializers.CharField(
        max_length=1,
        required=False,
        validators=[KEY_VALIDATOR],
        help_text="Keyboard shortcut on the labeling page; a, s, u and n are reserved. Default: the "
        "first free digit or letter.",
    )
    color = serializers.CharField(
        max_length=7, required=False, validators=[COLOUR_VALIDATOR], help_text="#rrggbb"
    )
    position = serializers.IntegerField(min_value=0, max_value=1000, required=False)


def label_arguments(data: dict) -> dict:
    """A write body's fields under projects.services.projects.label_save's names."""
    names = {"key": "shortcut_key", "color": "colour"}
    return {names.get(field, field): value for field, value in data.items()}


class ProjectCreateSerializer(ClosedSerializer):
    name = _text(200)
    slug = serializers.CharField(
        max_length=80, validators=[SLUG_VALIDATOR], help_text="Used in addresses: /projects/<slug>/."
    )
    description = _text(10_000, required=False, allow_blank=True, default="")
    overlap = serializers.IntegerField(
        min_value=1, max_value=25, required=False, default=3, help_text="Raters per example (k)."
    )
    labels = serializers.ListField(
        child=LabelWriteSerializer(), required=False, max_length=30, default=list, help_text="At most 30."
    )
    task_type = serializers.ChoiceField(
        choices=TaskType.choices,
        required=False,
        default=TaskType.SINGLE.value,
        help_text="single (one label per example), multi (a set of labels) or spans (labeled spans of "
        "the text, named entities); fixed once annotated.",
    )
    allow_empty_label_set = serializers.BooleanField(
        required=False, default=False, help_text='Multi-label: a rater may answer "none of these".'
    )
    spans_may_nest = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Spans: one annotation's spans may nest (never cross); fixed once annotated.",
    )


class ProjectUpdateSerializer(ClosedSerializer):
    """The settings a manager changes; fields left out keep their values. Changing overlap or a
    review rule re-decides the project's examples in the background, as on the settings page."""

    name = _text(200, required=False)
    description = _text(10_000, required=False, allow_blank=True)
    overlap = serializers.IntegerField(
        min_value=1, max_value=25, required=False, help_text="Raters per example."
    )
    lease_minutes = serializers.IntegerField(
        min_value=1, max_value=24 * 60, required=False, help_text="How long a handed-out example is held."
    )
    lease_queue_size = serializers.IntegerField(
        min_value=1, max_value=10, required=False, help_text="Examples held for each labeler at once."
    )
    task_type = serializers.ChoiceField(
        choices=TaskType.choices,
        required=False,
        help_text="single, multi or spans; refused (409) once the project has annotations.",
    )
    allow_empty_label_set = serializers.BooleanField(
        required=False, help_text='Multi-label: a rater may answer "none of these".'
    )
    spans_may_nest = serializers.BooleanField(
        required=False,
        help_text="Spans: one annotation's spans may nest (never cross); refused (409) once annotated.",
    )
    labels_are_ordinal = serializers.BooleanField(required=False)
    kappa_weights = serializers.ChoiceField(choices=KappaWeights.choices, required=False)
    majority_threshold = serializers.FloatField(
        min_value=0.51, max_value=1.0, required=False, help_text="Share of raters a majority needs."
    )
    accept_majority = serializers.BooleanField(
        required=False, help_text="Accept majorities without review (else they are queued too)."
    )
    extra_raters_on_split = serializers.IntegerField(
        min_value=0, max_value=10, required=False, help_text="Raters added when the votes split."
    )
    honeypot_rate = serializers.FloatField(
        min_value=0.0, max_value=0.5, required=False, help_text="Share of handed-out examples that are gold."
    )
    label_issue_top_n = serializers.IntegerField(
        min_value=1, max_value=10_000, required=False, help_text="Likely label issues sent to review per run."
    )
    visible_metadata = serializers.ListField(
        child=_text(200),
        required=False,
        max_length=20,
        help_text="Metadata fields shown to labelers next to the text.",
    )


class ProjectSettingsSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = [
            "slug", "name", "description", "overlap", "lease_minutes", "lease_queue_size",
            "task_type", "allow_empty_label_set", "spans_may_nest", "labels_are_ordinal",
            "kappa_weights", "majority_threshold", "accept_majority", "extra_raters_on_split",
            "visible_metadata",
        ]  # fmt: skip


class ProjectCreatedSerializer(ProjectSettingsSerializer):
    labels = LabelSerializer(many=True, read_only=True)

    class Meta(ProjectSettingsSerializer.Meta):
        fields = [*ProjectSettingsSerializer.Meta.fields, "labels"]


class ProjectUpdatedSerializer(ProjectSettingsSerializer):
    """Expects the view to pass `decisions_job` (a job, or None) in the context."""

    decisions_job = serializers.SerializerMethodField(
        help_text="When overlap or a review rule changed: the background job re-deciding the examples."
    )

    class Meta(ProjectSettingsSerializer.Meta):
        fields = [*ProjectSettingsSerializer.Meta.fields, "decisions_job"]

    @extend_schema_field(JobSerializer(allow_null=True))
    def get_decisions_job(self, project) -> dict | None:
        job = self.context["decisions_job"]
        return JobSerializer(job).data if job is not None else None


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["id", "username", "role"]


class MemberCreateSerializer(ClosedSerializer):
    username = _text(150, help_text="A member of the project (people join by accepting an invitation).")
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationCreateSerializer(ClosedSerializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices)
    invited_by = serializers.CharField(source="invited_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()


class InvitationAcceptSerializer(ClosedSerializer):
    token = _text(500, help_text="The token at the end of the link the invitation email carries.")


class JoinedSerializer(serializers.Serializer):
    project = serializers.CharField(source="project.slug")
    username = serializers.CharField(source="user.username")
    role = serializers.ChoiceField(choices=Role.choices)


class MemberUpdateSerializer(ClosedSerializer):
    role = serializers.ChoiceField(choices=Role.choices)


class GuidelineDraftSerializer(serializers.ModelSerializer):
    updated_by = serializers.CharField(source="updated_by.username", allow_null=True, default=None)
    based_on = serializers.IntegerField(
        source="based_on.number",
        allow_null=True,
        default=None,
        help_text="The version it was last published as.",
    )
    updated_at = serializers.DateTimeField(allow_null=True, read_only=True)

    class Meta:
        model = GuidelineDraft
        fields = ["body", "updated_by", "updated_at", "based_on"]


class GuidelineDraftWriteSerializer(ClosedSerializer):
    body = serializers.CharField(
        allow_blank=True,
        trim_whitespace=False,
        max_length=MAX_GUIDELINE_CHARS,
        validators=[NO_NUL_CHARACTERS],
        help_text="Markdown.",
    )


class GuidelinePublishSerializer(ClosedSerializer):
    changelog = _text(500, help_text="One line: what changed in this version, and why.")


class GoldImportRequestSerializer(ClosedSerializer):
    file = serializers.FileField(help_text="CSV, TSV, JSON Lines or JSON with example_id and label.")
    format = serializers.ChoiceField(choices=FORMATS, required=False, help_text="Overrides the file name.")


class PredictionImportRequestSerializer(ClosedSerializer):
    file = serializers.FileField(
        help_text="CSV, TSV, JSON Lines or JSON: example_id, label, optional score, optional p_<label> "
        "probabilities (summing to 1 within 1e-3)."
    )
    format = serializers.ChoiceField(choices=FORMATS, required=False, help_text="Overrides the file name.")
    model = _text(100, help_text="The model's name.")
    # A form field: multipart sends a null as the text "null", so that text is no version.
    version = serializers.RegexField(
        r"^(?!null$)[^\x00]*$",
        max_length=100,
        required=False,
        allow_blank=True,
        help_text="The model's version (not the text 'null').",
    )
    # A form field: multipart sends text, so "true" or "false" (a JSON boolean cannot be sent).
    replace = serializers.ChoiceField(
        choices=("true", "false"),
        required=False,
        help_text='"true" replaces this model version\'s predictions from another file (default "false").',
    )


class GoldSampleRequestSerializer(ClosedSerializer):
    size = serializers.IntegerField(
        min_value=1, max_value=10_000, required=False, help_text="How many examples."
    )
    share = serializers.FloatField(
        min_value=0.0001, max_value=1.0, required=False, help_text="Or: which share."
    )
    seed = serializers.IntegerField(
        required=False, min_value=0, max_value=2**31 - 1, help_text="The same seed draws the same sample."
    )


class GoldSampleSerializer(serializers.Serializer):
    drawn = serializers.IntegerField()
    example_ids = serializers.ListField(child=serializers.IntegerField())
