"""Thin serializers for the labeling API: annotations, leases, and the bodies labelers send."""

import uuid
from datetime import datetime

from django.utils import timezone
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


class AnnotationWithNextSerializer(AnnotationSerializer):
    """The answer to a submit that asked for `next`: the annotation, and the lease to label next."""

    next = AssignmentSerializer(
        allow_null=True,
        required=False,  # a response-only serializer: "not required" keeps `next` optional there
        help_text="Your next lease, as assignments/next/ answers it; null when none is held for you now "
        "(nothing is left, or rarely your other requests took the queue: assignments/next/ tells). Only "
        "when the request asked for it.",
    )

    class Meta(AnnotationSerializer.Meta):
        fields = [*AnnotationSerializer.Meta.fields, "next"]


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
    next = serializers.BooleanField(
        required=False,
        default=False,
        help_text="true: the answer also brings your next lease as `next` (what assignments/next/ "
        "would answer, or null when nothing is left), so a label costs one request instead of two.",
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


# --------------------------------------------------------------------------------------------------
# The hot path: next and submit. The serializers above define the contract (and the schema); these
# functions give the same JSON without building DRF fields on every request, which cost more CPU
# than the rest of a submit. tests/api/test_labeling_payloads.py holds both to the same output.


def datetime_text(value: datetime | None) -> str | None:
    """A datetime as DRF's DateTimeField renders it (ISO 8601 in the current time zone, UTC as Z)."""
    if not value:
        return None
    text = value.astimezone(timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def annotation_payload(annotation, *, label_names: dict[int, str]) -> dict:
    """AnnotationSerializer(annotation, context={"label_names": label_names}).data, by hand."""
    label = annotation.label
    version = annotation.guideline_version
    labels = annotation.labels
    spans = annotation.spans
    time_spent = annotation.time_spent_ms
    return {
        "id": annotation.pk,
        "example": int(annotation.example.id),
        "example_external_id": str(annotation.example.external_id),
        "rater": str(annotation.rater.username),
        "label": str(label.name) if label is not None else None,
        "labels": None if labels is None else [label_names[pk] for pk in labels if pk in label_names],
        "spans": None
        if spans is None
        else [{"start": start, "end": end, "label": label_names.get(pk)} for start, end, pk in spans],
        "guideline_version": int(version.number) if version is not None else None,
        "ambiguous": bool(annotation.ambiguous),
        "ambiguous_note": str(annotation.ambiguous_note),
        "note": str(annotation.note),
        "time_spent_ms": int(time_spent) if time_spent is not None else None,
        "source": str(annotation.source),
        "created_at": datetime_text(annotation.created_at),
        "superseded_at": datetime_text(annotation.superseded_at),
    }


def assignment_payload(assignment, *, context: dict) -> dict:
    """AssignmentSerializer(assignment, context=context).data, by hand."""
    example = assignment.example
    return {
        "id": int(assignment.pk),
        "task_type": context["task_type"],
        "allow_empty_label_set": context["allow_empty_label_set"],
        "spans_may_nest": context["spans_may_nest"],
        "example": {
            "id": int(example.pk),
            "external_id": str(example.external_id),
            "text": str(example.text),
            "metadata": {str(key): value for key, value in context["metadata"].items()},
            "media": _media_payload(example_media_payload(example, request=context["request"])),
        },
        "expires_at": datetime_text(assignment.expires_at),
        "guideline_version": context["guideline_version"],
    }


def _media_payload(media: dict | None) -> dict | None:
    if media is None:
        return None
    return {
        "name": str(media["name"]),
        "type": str(media["type"]),
        "sha256": str(media["sha256"]),
        "bytes": int(media["bytes"]),
        "url": str(media["url"]),
    }


_SUBMIT_FIELDS = frozenset(AnnotationSubmitSerializer._declared_fields)
_NOTE_LIMITS = {"ambiguous_note": 1000, "note": 2000}
_MAX_ID = 2_147_483_647


def _whole(value, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def _some_text(value) -> str | None:
    """A required text field's value as DRF cleans it (trimmed), or None when DRF might refuse it."""
    if type(value) is not str:
        return None
    value = value.strip()
    if not 0 < len(value) <= 100 or SOME_TEXT.regex.search(value) is None:
        return None
    return value


def annotation_submit_data(data) -> dict | None:
    """AnnotationSubmitSerializer(data=data).validated_data for a well-formed body, without the
    serializer; None for anything else, which the serializer then checks (and refuses with its
    messages): this path accepts only what the serializer accepts, and reads it the same way."""
    if type(data) is not dict or not data.keys() <= _SUBMIT_FIELDS:
        return None
    given = [name for name in ("label", "labels", "spans") if name in data]
    if len(given) != 1 or not _whole(data.get("assignment"), 1, _MAX_ID):
        return None
    found: dict = {
        "assignment": data["assignment"],
        "ambiguous": data.get("ambiguous", False),
        "next": data.get("next", False),
    }
    if type(found["ambiguous"]) is not bool or type(found["next"]) is not bool:
        return None
    if "label" in data:
        found["label"] = _some_text(data["label"])
        if found["label"] is None:
            return None
    elif "labels" in data:
        values = data["labels"]
        if type(values) is not list or len(values) > 100:
            return None
        found["labels"] = [_some_text(value) for value in values]
        if None in found["labels"]:
            return None
    else:
        spans = _spans_data(data["spans"])
        if spans is None:
            return None
        found["spans"] = spans
    if "client_token" in data:
        token = data["client_token"]
        if type(token) is not str:
            return None
        try:
            found["client_token"] = uuid.UUID(hex=token)
        except ValueError:
            return None
    for name, limit in _NOTE_LIMITS.items():
        if name in data:
            value = data[name]
            if type(value) is not str or "\x00" in value or len(value.strip()) > limit:
                return None
            found[name] = value.strip()
    if "time_spent_ms" in data:
        if not _whole(data["time_spent_ms"], 0, MAX_TIME_SPENT_MS):
            return None
        found["time_spent_ms"] = data["time_spent_ms"]
    return found


def _spans_data(spans) -> list[dict] | None:
    if type(spans) is not list or len(spans) > SPAN_LIMIT:
        return None
    found = []
    for span in spans:
        if type(span) is not dict or not _SPAN_KEYS <= span.keys() <= _SPAN_KEYS_WITH_TEXT:
            return None
        label = _some_text(span["label"])
        if label is None or not (_whole(span["start"], 0, _MAX_ID) and _whole(span["end"], 1, _MAX_ID)):
            return None
        found.append({"start": span["start"], "end": span["end"], "label": label})
        if "text" in span:  # kept as given (not trimmed), as SpanWriteSerializer keeps it
            text = span["text"]
            if type(text) is not str or not 0 < len(text) <= 100_000 or "\x00" in text:
                return None
            found[-1]["text"] = text
    return found


_SPAN_KEYS = frozenset(("start", "end", "label"))
_SPAN_KEYS_WITH_TEXT = _SPAN_KEYS | {"text"}
