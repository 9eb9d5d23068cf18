"""The review workflow over the REST API: disagreements with their votes and resolutions
(managers and SMEs), resolving one, and sending examples back for relabeling (managers)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from consistency.review.models import Resolution
from consistency.review.selectors import (
    disagreement_get_api,
    disagreement_list_api,
    label_id_by_name,
)
from consistency.review.serializers import (
    RESOLVE_REQUEST,
    VERDICT_EXCLUDE,
    VERDICT_LABEL,
    DisagreementFilterSerializer,
    DisagreementResolveSerializer,
    DisagreementSerializer,
    ResolutionSerializer,
)
from consistency.review.services import (
    RELABEL_SAMPLE,
    RELABEL_SCOPES,
    ResolutionConflict,
    relabel_request,
    review_resolve,
)
from core.api import (
    AllowListOrderingFilter,
    ClosedSerializer,
    ConflictSerializer,
    CursorPagination,
    query_params_validate,
)
from labeling.models import Disagreement
from projects.api.base import MANAGERS, REVIEWERS, ProjectScopedMixin

VERDICTS = {VERDICT_LABEL: Resolution.Verdict.GOLD, VERDICT_EXCLUDE: Resolution.Verdict.EXCLUDED}


class AlreadyResolved(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "already_resolved"


CONFLICT_RESPONSE = OpenApiResponse(
    ConflictSerializer,
    description="Another reviewer resolved this disagreement first; nothing was saved.",
)


@extend_schema(parameters=[DisagreementFilterSerializer])
class DisagreementListApi(ProjectScopedMixin, generics.ListAPIView):
    """The project's disagreements, open and resolved, cursor-paginated, each with its example,
    the votes, the guideline versions they were cast under and the resolution in force."""

    project_roles = REVIEWERS
    serializer_class = DisagreementSerializer
    query_serializer_class = DisagreementFilterSerializer
    pagination_class = CursorPagination
    filter_backends = [AllowListOrderingFilter]
    ordering_choices = ("created_at", "-created_at", "id", "-id")
    ordering = ["id"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Disagreement.objects.none()
        filters = query_params_validate(DisagreementFilterSerializer, self.request)
        return disagreement_list_api(project=self.request.project, **filters)


class DisagreementDetailApi(ProjectScopedMixin, APIView):
    """One disagreement of the project, with the same fields as the list."""

    project_roles = REVIEWERS

    @extend_schema(responses=DisagreementSerializer)
    def get(self, request, slug: str, id: int):
        disagreement = disagreement_get_api(project=request.project, disagreement_id=id)
        return Response(DisagreementSerializer(disagreement).data)


class DisagreementResolveApi(ProjectScopedMixin, APIView):
    """Resolve an open disagreement (SMEs and managers): verdict "label" with the gold label's
    name (one of the project's labels), on a multi-label project the gold set `labels` (names),
    or, on a span project, the gold `spans` (`[]` for "no
    entities"), or verdict "exclude" (genuinely ambiguous, kept out of the dataset) with a
    rationale. 409 when it is already resolved, by someone else or before;
    revise a resolution on the review page."""

    project_roles = REVIEWERS

    @extend_schema(
        request=RESOLVE_REQUEST,
        responses={
            201: ResolutionSerializer,
            400: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="Invalid input, field by field; also a label that is not one of the "
                "project's labels, spans on a project that does not mark spans (or spans that cross, "
                "leave the text or name another label: the field is named, as `spans[2].end`), or an "
                "exclusion without a rationale.",
            ),
            409: CONFLICT_RESPONSE,
        },
    )
    def post(self, request, slug: str, id: int):
        form = DisagreementResolveSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        label_id = label_ids = None
        if data["verdict"] == VERDICT_LABEL and "label" in data:
            label_id = label_id_by_name(project=request.project, name=data["label"])
            if label_id is None:
                raise exceptions.ValidationError({"label": ["This project has no label of that name."]})
        if data["verdict"] == VERDICT_LABEL and "labels" in data:
            label_ids = []
            for name in data["labels"]:
                found = label_id_by_name(project=request.project, name=name)
                if found is None:
                    raise exceptions.ValidationError(
                        {"labels": [f"This project has no label named {name[:100]!r}."]}
                    )
                label_ids.append(found)
        try:
            resolution = review_resolve(
                project=request.project,
                user=request.user,
                disagreement_id=id,
                verdict=VERDICTS[data["verdict"]],
                label_id=label_id,
                labels=label_ids,
                spans=[dict(span) for span in data["spans"]] if "spans" in data else None,
                rationale=data["rationale"],
                guideline_gap=data["guideline_gap"],
            )
        except ResolutionConflict as exc:
            # Every other domain error goes on to core.api.exception_handler (NotFound 404, the rest 400).
            raise AlreadyResolved(exc.message) from None
        return Response(ResolutionSerializer(resolution).data, status=status.HTTP_201_CREATED)


class RelabelRequestSerializer(ClosedSerializer):
    scope = serializers.ChoiceField(
        choices=RELABEL_SCOPES,
        help_text="disagreements: the examples whose disagreements led to the guideline change; older: "
        "every example labeled under an older version; sample: `n` of those, at random.",
    )
    n = serializers.IntegerField(
        required=False, min_value=1, max_value=100_000, help_text="How many to sample (scope sample only)."
    )

    def validate(self, data):
        if data["scope"] == RELABEL_SAMPLE and data.get("n") is None:
            raise exceptions.ValidationError({"n": ["Say how many examples to sample."]})
        return data


class RelabelApi(ProjectScopedMixin, APIView):
    """Send examples back for relabeling under the guideline in force (managers), as the
    agreement page does: their current labels are superseded and labelers get them again."""

    project_roles = MANAGERS

    @extend_schema(
        request=RelabelRequestSerializer,
        responses={
            201: inline_serializer(
                "RelabelRequested", {"scope": serializers.CharField(), "examples": serializers.IntegerField()}
            ),
            409: OpenApiResponse(ConflictSerializer, description="No guideline version is published yet."),
        },
    )
    def post(self, request, slug: str):
        form = RelabelRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        scope = form.validated_data["scope"]
        count = relabel_request(
            project=request.project, user=request.user, scope=scope, n=form.validated_data.get("n")
        )
        return Response({"scope": scope, "examples": count}, status=status.HTTP_201_CREATED)
