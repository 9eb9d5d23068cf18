"""Thin serializers for the review API: disagreements with their votes, and resolving them."""

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from consistency.review.models import Resolution
from consistency.review.selectors import disagreement_current_resolution, disagreement_votes, label_names
from consistency.review.services import MAX_RATIONALE_CHARS
from core.api import NO_NUL_CHARACTERS, ClosedSerializer
from labeling.api.serializers import (  # the labeling API's span and its error names (spans[2].end)
    SpanWriteSerializer,
    _spans_errors_by_field,
)
from labeling.models import Disagreement
from labeling.spans import SPAN_LIMIT


class DisagreementExampleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    text = serializers.CharField()


class ReviewSpanSerializer(serializers.Serializer):
    start = serializers.IntegerField(help_text="The first character, counted in Unicode code points from 0.")
    end = serializers.IntegerField(help_text="One past the last character (the end is not included).")
    label = serializers.CharField(help_text="The label's name.")


SPANS_HELP = (
    'Span projects: the spans, in text order, each with its label\'s name ([] for "no entities"); '
    "null on other projects."
)


LABELS_HELP = 'Multi-label projects: the set\'s label names ([] for "none of these"); null on other projects.'


def _names(serializer: serializers.Serializer, project_id: int) -> dict[int, str]:
    """The project's label names by id, read once per response."""
    names = serializer.context.get("label_names")
    if names is None:
        names = serializer.context["label_names"] = label_names(project_id=project_id)
    return names


def _labels_shown(serializer: serializers.Serializer, labels, project_id: int) -> list[str] | None:
    """A stored label set as label names, in the stored order."""
    if labels is None:
        return None
    names = _names(serializer, project_id)
    return [names.get(label, "") for label in labels]


def _spans_shown(serializer: serializers.Serializer, spans, project_id: int) -> list[dict] | None:
    """Stored spans with label names."""
    if spans is None:
        return None
    names = _names(serializer, project_id)
    return [{"start": start, "end": end, "label": names.get(label, "")} for start, end, label in spans]


class VoteSerializer(serializers.Serializer):
    rater = serializers.CharField(source="rater.username")
    label = serializers.CharField(
        source="label.name", allow_null=True, default=None, help_text="Single-label projects: the label."
    )
    labels = serializers.SerializerMethodField(help_text=LABELS_HELP)
    spans = serializers.SerializerMethodField(help_text=SPANS_HELP)
    ambiguous = serializers.BooleanField()
    ambiguous_note = serializers.CharField()
    note = serializers.CharField()
    guideline_version = serializers.IntegerField(source="guideline_version.number", allow_null=True)
    created_at = serializers.DateTimeField()

    @extend_schema_field(serializers.ListField(child=serializers.CharField(), allow_null=True))
    def get_labels(self, vote) -> list[str] | None:
        return _labels_shown(self, vote.labels, self.context["project_id"])

    @extend_schema_field(ReviewSpanSerializer(many=True, allow_null=True))
    def get_spans(self, vote) -> list[dict] | None:
        return _spans_shown(self, vote.spans, self.context["project_id"])


class ResolutionSerializer(serializers.ModelSerializer):
    label = serializers.CharField(
        source="label.name",
        allow_null=True,
        help_text="The gold label; null when excluded (and on span projects).",
    )
    labels = serializers.SerializerMethodField(help_text="The gold set. " + LABELS_HELP)
    spans = serializers.SerializerMethodField(help_text="The gold spans. " + SPANS_HELP)
    sme = serializers.CharField(source="sme.username", help_text="Who resolved it.")
    supersedes = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text="The resolution this one revised, if any."
    )

    class Meta:
        model = Resolution
        fields = [
            "id",
            "disagreement",
            "example",
            "verdict",
            "label",
            "labels",
            "spans",
            "rationale",
            "guideline_gap",
            "sme",
            "supersedes",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField(), allow_null=True))
    def get_labels(self, resolution) -> list[str] | None:
        return _labels_shown(self, resolution.labels, resolution.project_id)

    @extend_schema_field(ReviewSpanSerializer(many=True, allow_null=True))
    def get_spans(self, resolution) -> list[dict] | None:
        return _spans_shown(self, resolution.spans, resolution.project_id)


class DisagreementSerializer(serializers.ModelSerializer):
    """Expects a disagreement from consistency.review.selectors.disagreement_list_api (prefetched)."""

    example = DisagreementExampleSerializer()
    label_a = serializers.CharField(
        source="label_a.name", allow_null=True, help_text="The most-voted label (null if deleted)."
    )
    label_b = serializers.CharField(
        source="label_b.name", allow_null=True, help_text="The runner-up; null when only one label was voted."
    )
    guideline_versions = serializers.SerializerMethodField(
        help_text="Numbers of the guideline versions the votes were cast under."
    )
    votes = serializers.SerializerMethodField(help_text="The votes the disagreement is about.")
    resolution = serializers.SerializerMethodField(help_text="The resolution in force; null while open.")

    class Meta:
        model = Disagreement
        fields = [
            "id",
            "example",
            "status",
            "reason",
            "label_a",
            "label_b",
            "majority_share",
            "guideline_versions",
            "created_at",
            "resolved_at",
            "votes",
            "resolution",
        ]
        read_only_fields = fields

    def get_guideline_versions(self, disagreement) -> list[int]:
        return [version.number for version in disagreement.guideline_versions.all()]

    @extend_schema_field(VoteSerializer(many=True))
    def get_votes(self, disagreement) -> list[dict]:
        self.context["project_id"] = disagreement.project_id  # shared: label names read once
        return VoteSerializer(disagreement_votes(disagreement), many=True, context=self.context).data

    @extend_schema_field(ResolutionSerializer(allow_null=True))
    def get_resolution(self, disagreement) -> dict | None:
        resolution = disagreement_current_resolution(disagreement)
        return ResolutionSerializer(resolution, context=self.context).data if resolution is not None else None


class DisagreementFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Disagreement.Status.choices, required=False)
    reason = serializers.ChoiceField(choices=Disagreement.Reason.choices, required=False)
    label = serializers.CharField(
        required=False,
        max_length=100,
        trim_whitespace=False,
        validators=[NO_NUL_CHARACTERS],
        help_text="A label's name: disagreements where it is one of the two most-voted labels.",
    )
    created_after = serializers.DateTimeField(
        required=False, help_text="Only disagreements opened after this."
    )


VERDICT_LABEL = "label"
VERDICT_EXCLUDE = "exclude"


RATIONALE_HELP = "Why: shown to reviewers and, if the release asks for it, kept with the label."


def _rationale(*, required: bool, help_text: str = RATIONALE_HELP) -> serializers.CharField:
    return serializers.CharField(
        required=required,
        allow_blank=not required,
        default="" if not required else serializers.empty,
        max_length=MAX_RATIONALE_CHARS,
        validators=[NO_NUL_CHARACTERS],
        help_text=help_text,
    )


def _guideline_gap() -> serializers.BooleanField:
    return serializers.BooleanField(
        required=False, default=False, help_text="The guideline does not cover this case."
    )


def _spans_input() -> serializers.ListField:
    return serializers.ListField(
        child=SpanWriteSerializer(),  # the labeling API's span, checked the same way
        required=False,
        allow_empty=True,
        max_length=SPAN_LIMIT,
        help_text='Span projects (instead of `label`): the gold spans, [] for "no entities". Offsets count '
        "Unicode code points; spans may not cross (nor overlap, unless the project lets them nest).",
    )


def _labels_input() -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(max_length=100, validators=[NO_NUL_CHARACTERS]),
        required=False,
        allow_empty=True,
        max_length=1000,
        help_text='Multi-label projects (instead of `label`): the gold set, by label names; [] for "none of '
        'these" where the project allows it.',
    )


class ResolveWithLabelSerializer(ClosedSerializer):
    """Verdict "label": the gold answer, the label by name (one of the project's labels, else a
    400), on a multi-label project the gold set of label names, or on a span project the gold spans."""

    verdict = serializers.ChoiceField(choices=[(VERDICT_LABEL, "A gold answer")])
    label = serializers.CharField(
        required=False,
        max_length=100,
        validators=[NO_NUL_CHARACTERS],
        help_text="The name of one of the project's labels (single-label projects).",
    )
    labels = _labels_input()
    spans = _spans_input()
    rationale = _rationale(required=False)
    guideline_gap = _guideline_gap()


class ResolveExcludeSerializer(ClosedSerializer):
    """Verdict "exclude": genuinely ambiguous, kept out of the dataset; a rationale is required."""

    verdict = serializers.ChoiceField(choices=[(VERDICT_EXCLUDE, "Genuinely ambiguous")])
    rationale = _rationale(required=True, help_text="Why no label fits: required for an exclusion.")
    guideline_gap = _guideline_gap()


RESOLVE_REQUEST = PolymorphicProxySerializer(
    component_name="DisagreementResolveRequest",
    serializers={VERDICT_LABEL: ResolveWithLabelSerializer, VERDICT_EXCLUDE: ResolveExcludeSerializer},
    resource_type_field_name="verdict",
)


class DisagreementResolveSerializer(ClosedSerializer):
    """Validates a resolution by its verdict; the schema shows it as RESOLVE_REQUEST."""

    verdict = serializers.ChoiceField(
        choices=[
            (
                VERDICT_LABEL,
                "A gold answer (`label`; `labels` on a multi-label project, `spans` on a span one)",
            ),
            (VERDICT_EXCLUDE, "Genuinely ambiguous: keep the example out of the dataset"),
        ]
    )
    label = serializers.CharField(required=False, max_length=100, validators=[NO_NUL_CHARACTERS])
    labels = _labels_input()
    spans = _spans_input()
    rationale = _rationale(required=False)
    guideline_gap = _guideline_gap()

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if isinstance(exc.detail, dict) and "spans" in exc.detail:
                raise serializers.ValidationError(_spans_errors_by_field(dict(exc.detail))) from None
            raise

    def validate(self, attrs):
        answers = [field for field in ("label", "labels", "spans") if field in attrs]
        if attrs["verdict"] == VERDICT_LABEL:
            if len(answers) > 1:
                raise serializers.ValidationError(
                    {answers[1]: [f"Give one gold answer: `{answers[0]}` or `{answers[1]}`, not both."]}
                )
            if not answers or (answers == ["label"] and not attrs["label"]):
                raise serializers.ValidationError(
                    {
                        "label": [
                            "Give the gold label's name for verdict 'label' (`labels` on a multi-label "
                            "project, `spans` on a span project)."
                        ]
                    }
                )
        for field in answers:
            if attrs["verdict"] == VERDICT_EXCLUDE:
                raise serializers.ValidationError({field: [f"Leave out `{field}` for verdict 'exclude'."]})
        if attrs["verdict"] == VERDICT_EXCLUDE and not attrs["rationale"].strip():
            raise serializers.ValidationError(
                {"rationale": ["Say why no label fits: an exclusion needs a rationale."]}
            )
        return attrs
