"""Thin serializers for the projects API: field lists only, no queries of their own."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api import NO_NUL_CHARACTERS, ClosedSerializer
from core.jobs.api import JobSerializer
from projects.importing import FORMATS
from projects.models import Example, GuidelineVersion, ImportBatch, Label, Membership, Project, Role
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


class ExampleSerializer(serializers.ModelSerializer):
    class Meta:
        model = Example
        fields = ["id", "external_id", "text", "metadata", "annotation_count", "created_at"]


class ExampleFilterSerializer(serializers.Serializer):
    external_id = serializers.CharField(required=False, max_length=255, validators=[NO_NUL_CHARACTERS])
    created_after = serializers.DateTimeField(required=False, help_text="Only examples created after this.")
    has_annotations = serializers.BooleanField(required=False, allow_null=True, default=None)


class ImportRequestSerializer(ClosedSerializer):
    file = serializers.FileField(help_text="CSV, TSV, JSON Lines or JSON; the format is read from the name.")
    format = serializers.ChoiceField(choices=FORMATS, required=False, help_text="Overrides the file name.")


class AnnotationImportRequestSerializer(ClosedSerializer):
    file = serializers.FileField(
        help_text="Long CSV, TSV or JSON Lines (example_id, rater, label, optional text) or a Label Studio "
        "JSON export (.json); the format is read from the name."
    )
    format = serializers.ChoiceField(choices=(), required=False, help_text="Overrides the file name.")
    from_name = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        validators=[NO_NUL_CHARACTERS],
        help_text="Label Studio: the choices control to import when the labeling config has several.",
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
