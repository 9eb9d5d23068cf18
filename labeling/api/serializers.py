"""Thin serializers for the labeling API: annotations, leases, and the bodies labelers send."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers

from core.api import NO_NUL_CHARACTERS, SOME_TEXT, ClosedSerializer
from labeling.models import Annotation
from labeling.services.annotations import MAX_TIME_SPENT_MS
from labeling.spans import SPAN_LIMIT
from projects.api.serializers import ExampleMediaSerializer, example_media_payload
from projects.models import TaskType


class SpanSerializer(serializers.Serializer):
    start = serializers.IntegerField(help_text="Offset of the span's first character, in code points.")
    end = serializers.IntegerField(help_text="Offset just after its last character (end exclusive).")
    label = serializers.CharField(help_text="The label's name.")


class AnnotationSerializer(serializers.ModelSerializer):
    example = serializers.IntegerField(source="example.id")
    example_external_id = serializers.CharField(source="example.external_id")
    rater = serializers.CharField(source="rater.username")
    label = serializers.CharField(
        source="label.name", allow_null=True, help_text="Single-label projects: the label (else null)."
    )
    labels = serializers.SerializerMethodField(
        help_text='Multi-label projects: the names of the chosen labels ([] for "none of these"); '
        "null on single-label projects."
    )
    spans = serializers.SerializerMethodField(
        help_text='Span projects: the labeled spans of the text, sorted ([] for "no entities"); null on '
        "other projects."
    )
    guideline_version = serializers.IntegerField(source="guideline_version.number", allow_null=True)

    class Meta:
        model = Annotation
        fields = [
            "id",
            "example",
            "example_external_id",
            "rater",
            "label",
            "labels",
            "spans",
            "guideline_version",
            "ambiguous",
            "ambiguous_note",
            "note",
            "time_spent_ms",
            "source",
            "created_at",
            "superseded_at",
        ]

    def _label_names(self, annotation) -> dict[int, str]:
        names = self.context.get("label_names")
        if names is None:  # a single annotation outside a list: read its project's labels once
            names = dict(annotation.example.project.labels.values_list("pk", "name"))
            self.context["label_names"] = names
        return names

    @extend_schema_field(serializers.ListField(child=serializers.CharField(), allow_null=True))
    def get_labels(self, annotation) -> list[str] | None:
        if annotation.labels is None:
            return None
        names = self._label_names(annotation)
        return [names[pk] for pk in annotation.labels if pk in names]

    @extend_schema_field(SpanSerializer(many=True, allow_null=True))
    def get_spans(self, annotation) -> list[dict] | None:
        if annotation.spans is None:
            return None
        names = self._label_names(annotation)
        return [
            {"start": start, "end": end, "label": names.get(label)} for start, end, label in annotation.spans
        ]


class AnnotationFilterSerializer(serializers.Serializer):
    rater = serializers.CharField(
        required=False,
        max_length=150,
        trim_whitespace=False,
        validators=[NO_NUL_CHARACTERS],
        help_text="A rater's username.",
    )
    label = serializers.CharField(
        required=False,
        max_length=100,
        trim_whitespace=False,
        validators=[NO_NUL_CHARACTERS],
        help_text="A label's name.",
    )
    guideline_version = serializers.IntegerField(required=False, min_value=1, help_text="A version number.")
    ambiguous = serializers.BooleanField(required=False, allow_null=True, default=None)
    created_after = serializers.DateTimeField(required=False)
    current = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="true: only annotations in force; false: only those superseded by a relabeling.",
    )


class LeasedExampleSerializer(serializers.Serializer):
    """What a labeler sees of an example: no counts, no other raters, only visible metadata."""

    id = serializers.IntegerField()
    external_id = serializers.CharField()
    text = serializers.CharField()
    metadata = serializers.DictField(help_text="Only the fields the project shows to labelers.")
    media = ExampleMediaSerializer(allow_null=True, help_text="The image or audio to label; null for a text.")


class AssignmentSerializer(serializers.Serializer):
    """A lease: the example held for the caller until `expires_at`. Expects `metadata`,
    `guideline_version` and `request` in the context."""

    id = serializers.IntegerField(help_text="Give it as `assignment` when submitting or skipping.")
    task_type = serializers.SerializerMethodField(
        help_text="single: submit one `label`; multi: submit `labels`, the set that applies; spans: "
        "submit `spans`, the labeled spans of the example's text."
    )
    allow_empty_label_set = serializers.SerializerMethodField(
        help_text='Multi-label: whether `labels: []` ("none of these") is accepted.'
    )
    spans_may_nest = serializers.SerializerMethodField(
        help_text="Spans: whether one span may lie inside another (spans never cross)."
    )
    example = serializers.SerializerMethodField()
    expires_at = serializers.DateTimeField()
    guideline_version = serializers.SerializerMethodField(
        help_text="The guideline version in force, stamped on the annotation."
    )

    @extend_schema_field(LeasedExampleSerializer)
    def get_example(self, assignment) -> dict:
        example = assignment.example
        return LeasedExampleSerializer(
            {
                "id": example.pk,
                "external_id": example.external_id,
                "text": example.text,
                "metadata": self.context["metadata"],
                "media": example_media_payload(example, request=self.context["request"]),
            }
        ).data

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_guideline_version(self, assignment) -> int | None:
        return self.context["guideline_version"]

    @extend_schema_field(serializers.ChoiceField(choices=TaskType.choices))
    def get_task_type(self, assignment) -> str:
        return self.context["task_type"]

    def get_allow_empty_label_set(self, assignment) -> bool:
        return self.context["allow_empty_label_set"]

    def get_spans_may_nest(self, assignment) -> bool:
        return self.context["spans_may_nest"]


def _text(limit: int, help_text: str) -> serializers.CharField:
    return serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=limit,
        validators=[NO_NUL_CHARACTERS],
        help_text=help_text,
    )


class SpanWriteSerializer(ClosedSerializer):
    start = serializers.IntegerField(
        min_value=0,
        max_value=2_147_483_647,
        help_text="Offset of the span's first character in the example's text, counted in Unicode code "
        "points (Python's str indexing; an emoji is one), from 0.",
    )
    end = serializers.IntegerField(
        min_value=1, max_value=2_147_483_647, help_text="Offset just after its last character (exclusive)."
    )
    label = serializers.CharField(
        max_length=100, validators=[SOME_TEXT], help_text="A label of the project, its name or its id."
    )
    text = serializers.CharField(
        required=False,
        allow_blank=False,
        trim_whitespace=False,
        max_length=100_000,
        help_text="Optional: the text the span covers. When given it must be the text at `start`..`end`, "
        "which catches offsets counted in another unit (UTF-16 code units, bytes).",
    )


def _spans_errors_by_field(detail) -> dict:
    """DRF's nested errors of `spans` ({"spans": {2: {"end": [...]}}}) under the field names the
    service uses: {"spans[2].end": [...]}."""
    spans = detail.pop("spans")
    if not isinstance(spans, dict):
        return {**detail, "spans": spans}
    for index, errors in spans.items():
        if isinstance(errors, dict):
            for name, messages in errors.items():
                field = f"spans[{index}]" if name == "non_field_errors" else f"spans[{index}].{name}"
                detail[field] = messages
        else:
            detail[f"spans[{index}]"] = errors
    return detail


class AnnotationSubmitSerializer(ClosedSerializer):
    assignment = serializers.IntegerField(
        min_value=1, max_value=2_147_483_647, help_text="The id of your lease, from assignments/next/."
    )
    label = serializers.CharField(
        required=False,
        max_length=100,
        validators=[SOME_TEXT],
        help_text="Single-label projects: a label of the project, its name or its id.",
    )
    labels = serializers.ListField(
        required=False,
        allow_empty=True,
        max_length=100,
        child=serializers.CharField(max_length=100, validators=[SOME_TEXT]),
        help_text="Multi-label projects (instead of `label`): every label that applies, names or ids; "
        '[] for "none of these" where the project allows it.',
    )
    spans = serializers.ListField(
        required=False,
        allow_empty=True,
        max_length=SPAN_LIMIT,
        child=SpanWriteSerializer(),
        help_text='Span projects (instead of `label`): the labeled spans of the text; [] for "no entities". '
        "Spans may not cross, nor overlap at all unless the project lets them nest (`spans_may_nest`). "
        "Errors name the span and field: `spans[2].end`.",
    )
    client_token = serializers.UUIDField(
        required=False,
        help_text="A UUID of your choosing: sending the same one again returns the first annotation and "
        "stores nothing new (safe retries).",
    )
    ambiguous = serializers.BooleanField(required=False, default=False)
    ambiguous_note = _text(1000, "Why the example is ambiguous (kept only when `ambiguous`).")
    note = _text(2000, "A note for reviewers.")
    time_spent_ms = serializers.IntegerField(
        required=False, min_value=0, max_value=MAX_TIME_SPENT_MS, help_text="Time spent on the example."
    )

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except exceptions.ValidationError as exc:
            if isinstance(exc.detail, dict) and "spans" in exc.detail:
                raise exceptions.ValidationError(_spans_errors_by_field(dict(exc.detail))) from None
            raise

    def validate(self, data):
        given = [name for name in ("label", "labels", "spans") if name in data]
        if len(given) > 1:
            message = (
                "Give `label` (single-label projects), `labels` (multi-label) or `spans` (span projects), "
                f"not both `{given[0]}` and `{given[1]}`."
            )
            raise serializers.ValidationError({given[0]: [message]})
        if not given:
            message = "This field is required (or `labels` on a multi-label project, `spans` on a span one)."
            raise serializers.ValidationError({"label": [message]})
        return data


class AssignmentSkipSerializer(ClosedSerializer):
    reason = serializers.CharField(
        max_length=500, validators=[SOME_TEXT], help_text="Why you skip it (e.g. not in English)."
    )
