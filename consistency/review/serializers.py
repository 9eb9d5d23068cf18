"""Thin serializers for the review API: disagreements with their votes, and resolving them."""

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from consistency.review.models import Resolution
from consistency.review.selectors import disagreement_current_resolution, disagreement_votes
from consistency.review.services import MAX_RATIONALE_CHARS
from core.api import NO_NUL_CHARACTERS, ClosedSerializer
from labeling.models import Disagreement


class DisagreementExampleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    text = serializers.CharField()


class VoteSerializer(serializers.Serializer):
    rater = serializers.CharField(source="rater.username")
    label = serializers.CharField(source="label.name")
    ambiguous = serializers.BooleanField()
    ambiguous_note = serializers.CharField()
    note = serializers.CharField()
    guideline_version = serializers.IntegerField(source="guideline_version.number", allow_null=True)
    created_at = serializers.DateTimeField()


class ResolutionSerializer(serializers.ModelSerializer):
    label = serializers.CharField(
        source="label.name", allow_null=True, help_text="The gold label; null when excluded."
    )
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
            "rationale",
            "guideline_gap",
            "sme",
            "supersedes",
            "created_at",
        ]
        read_only_fields = fields


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
        return VoteSerializer(disagreement_votes(disagreement), many=True).data

    @extend_schema_field(ResolutionSerializer(allow_null=True))
    def get_resolution(self, disagreement) -> dict | None:
        resolution = disagreement_current_resolution(disagreement)
        return ResolutionSerializer(resolution).data if resolution is not None else None


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


class ResolveWithLabelSerializer(ClosedSerializer):
    """Verdict "label": the gold label, by name (one of the project's labels, else a 400)."""

    verdict = serializers.ChoiceField(choices=[(VERDICT_LABEL, "A gold label")])
    label = serializers.CharField(
        max_length=100, validators=[NO_NUL_CHARACTERS], help_text="The name of one of the project's labels."
    )
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
            (VERDICT_LABEL, "A gold label (give `label`)"),
            (VERDICT_EXCLUDE, "Genuinely ambiguous: keep the example out of the dataset"),
        ]
    )
    label = serializers.CharField(required=False, max_length=100, validators=[NO_NUL_CHARACTERS])
    rationale = _rationale(required=False)
    guideline_gap = _guideline_gap()

    def validate(self, attrs):
        if attrs["verdict"] == VERDICT_LABEL and not attrs.get("label"):
            raise serializers.ValidationError({"label": ["Give the gold label's name for verdict 'label'."]})
        if attrs["verdict"] == VERDICT_EXCLUDE and "label" in attrs:
            raise serializers.ValidationError({"label": ["Leave out the label for verdict 'exclude'."]})
        if attrs["verdict"] == VERDICT_EXCLUDE and not attrs["rationale"].strip():
            raise serializers.ValidationError(
                {"rationale": ["Say why no label fits: an exclusion needs a rationale."]}
            )
        return attrs
