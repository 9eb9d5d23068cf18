"""The data-quality loop over the REST API (managers and SMEs): the project's models and a model's
report against gold and human-level performance, the same JSON as `manage.py model_report --json`."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from consistency.quality.selectors import model_report_build, prediction_set_get, prediction_set_list
from consistency.quality.services import label_issues_send
from core.api import ClosedSerializer, query_params_validate
from projects.api.base import MANAGERS, REVIEWERS, ProjectScopedMixin
from projects.models import PredictionSet
from projects.selectors import metadata_fields


class PredictionSetSerializer(serializers.ModelSerializer):
    has_probabilities = serializers.SerializerMethodField()

    class Meta:
        model = PredictionSet
        fields = [
            "id",
            "model_name",
            "version",
            "n_predictions",
            "has_probabilities",
            "source_name",
            "created_at",
        ]

    def get_has_probabilities(self, prediction_set) -> bool:
        return bool(prediction_set.label_ids)


class ModelReportQuerySerializer(ClosedSerializer):
    slice = serializers.CharField(
        required=False,
        max_length=200,
        help_text='A metadata field of the project\'s examples, or "tag" to slice by tag; any other '
        "value means no slices (the report's `slice` is then null).",
    )


class PredictionSetListApi(ProjectScopedMixin, APIView):
    """The models whose predictions were imported into the project."""

    project_roles = REVIEWERS

    @extend_schema(responses=PredictionSetSerializer(many=True))
    def get(self, request, slug: str):
        return Response(PredictionSetSerializer(prediction_set_list(project=request.project), many=True).data)


class ModelReportApi(ProjectScopedMixin, APIView):
    """A model's accuracy on gold and human-level performance with Wilson intervals, `n_gold`, the
    gap (human level minus model) overall and per slice with Newcombe's interval (largest first),
    its verdict (`gap_verdict`: model_below_human_level, model_above_human_level,
    not_distinguishable, or too_few_gold under 30 gold examples; `gap_sentence` says it in words),
    and its kappa against the consensus."""

    project_roles = REVIEWERS
    query_serializer_class = ModelReportQuerySerializer

    @extend_schema(
        parameters=[ModelReportQuerySerializer],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="The model report JSON."),
            404: OpenApiResponse(OpenApiTypes.OBJECT, description="No such model or project."),
        },
    )
    def get(self, request, slug: str, id: int):
        prediction_set = prediction_set_get(project=request.project, prediction_set_id=id)
        chosen = query_params_validate(ModelReportQuerySerializer, request).get("slice", "")
        if chosen != "tag" and chosen not in metadata_fields(project=request.project):
            chosen = ""  # as the page: only a field the examples use reaches a query
        report = model_report_build(
            project=request.project,
            prediction_set=prediction_set,
            slice_field="" if chosen == "tag" else chosen,
            tags=chosen == "tag",
        )
        return Response(report)


class LabelIssuesRequestSerializer(ClosedSerializer):
    model = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="Id of a model whose probabilities to use.",
    )
    top_n = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=10_000,
        help_text="How many to send (default: the project setting).",
    )
    dry_run = serializers.BooleanField(required=False, default=False, help_text="Rank only; send nothing.")


class LabelIssueSerializer(serializers.Serializer):
    example_id = serializers.IntegerField()
    quality = serializers.FloatField(help_text="0 to 1; lower is more likely wrong.")
    reason = serializers.CharField(help_text="Why it was sent, as the review page shows it.")


class LabelIssuesResultSerializer(serializers.Serializer):
    method = serializers.CharField()
    model = serializers.CharField(allow_null=True)
    n_examples = serializers.IntegerField()
    n_issues = serializers.IntegerField()
    already_in_review = serializers.IntegerField()
    sent = serializers.IntegerField()
    dry_run = serializers.BooleanField()
    issues = LabelIssueSerializer(many=True)


class LabelIssuesApi(ProjectScopedMixin, APIView):
    """Rank the examples whose current label is likely wrong (raters, and a model's probabilities
    when `model` is given) and open review cases for the top N not already in review (managers)."""

    project_roles = MANAGERS

    @extend_schema(
        request=LabelIssuesRequestSerializer,
        responses={
            201: LabelIssuesResultSerializer,
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="Invalid request."),
            404: OpenApiResponse(OpenApiTypes.OBJECT, description="No such model or project."),
        },
    )
    def post(self, request, slug: str):
        form = LabelIssuesRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        prediction_set = None
        if "model" in data:
            prediction_set = prediction_set_get(project=request.project, prediction_set_id=data["model"])
        result = label_issues_send(
            project=request.project,
            user=request.user,
            prediction_set=prediction_set,
            top_n=data.get("top_n"),
            dry_run=data["dry_run"],
        )
        return Response(LabelIssuesResultSerializer(result).data, status=201)
