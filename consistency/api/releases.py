"""Dataset releases over the REST API (managers and SMEs; labelers 403, non-members 404): list and
cut releases, read one, download its stored file as a stream, and diff two.

The lead mounts `release_api_urlpatterns` under api/v1/projects/<slug>/ (consistency/api/urls.py).
"""

from django.core.validators import RegexValidator
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from consistency.models import DatasetRelease
from core.api import REVIEWERS, ProjectScopedMixin, query_params_validate

from .. import release_selectors as selectors
from .. import release_services as services
from ..release_views import CONTENT_TYPES, release_file_response
from ..releases import TAG_PATTERN

FILE_FORMATS = ("jsonl", "csv", "json")
DOWNLOAD_DESCRIPTION = "The release file, by format: JSON Lines, CSV with a header row, or a JSON array."
# Documented as a pattern too, so clients (and the schema tests) know what a tag looks like.
TAG_VALIDATOR = RegexValidator(
    TAG_PATTERN.pattern, "A tag is 1-40 letters, digits, dots, dashes or underscores."
)


class ReleaseSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Username of who cut the release."
    )
    guideline_version = serializers.SlugRelatedField(
        slug_field="number", read_only=True, allow_null=True, help_text="The guideline version in force."
    )

    class Meta:
        model = DatasetRelease
        fields = [
            "tag", "status", "progress_percent", "progress_text", "error", "created_at", "finished_at",
            "created_by", "policy", "guideline_version", "agreement_report", "n_items", "counts",
            "sha256", "jsonl_bytes", "csv_bytes",
        ]  # fmt: skip
        read_only_fields = fields


class ReleaseCreateSerializer(serializers.Serializer):
    tag = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=40,
        validators=[TAG_VALIDATOR],
        help_text='Unique in the project; "diff" is reserved. Blank or missing: the next "vN".',
    )
    policy = serializers.DictField(
        required=False,
        help_text=(
            "Policy fields (sources, min_agreement, exclude_ambiguous, include_rationale, "
            "include_raters, use_dawid_skene, min_posterior, ratios, stratify_field, seed); "
            "missing ones take their defaults, unknown ones are a 400."
        ),
    )


class ReleaseDiffQuerySerializer(serializers.Serializer):
    old = serializers.CharField(
        max_length=40, validators=[TAG_VALIDATOR], help_text="Tag of the older release."
    )
    new = serializers.CharField(
        max_length=40, validators=[TAG_VALIDATOR], help_text="Tag of the newer release."
    )


class ReleaseDiffCountsSerializer(serializers.Serializer):
    added = serializers.IntegerField()
    removed = serializers.IntegerField()
    relabeled = serializers.IntegerField()
    split_changed = serializers.IntegerField()
    kept = serializers.IntegerField()


class ReleaseDiffItemSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    label = serializers.CharField()
    split = serializers.CharField()


class ReleaseDiffRemovedSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    label = serializers.CharField()


class ReleaseDiffRelabeledSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    old_label = serializers.CharField()
    new_label = serializers.CharField()


class ReleaseDiffSplitSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    old_split = serializers.CharField()
    new_split = serializers.CharField()


class ReleaseDiffSerializer(serializers.Serializer):
    """Documents selectors.release_diff's answer (lists cut at 500; counts complete)."""

    old = serializers.CharField()
    new = serializers.CharField()
    counts = ReleaseDiffCountsSerializer()
    added = ReleaseDiffItemSerializer(many=True)
    removed = ReleaseDiffRemovedSerializer(many=True)
    relabeled = ReleaseDiffRelabeledSerializer(many=True)
    split_changed = ReleaseDiffSplitSerializer(many=True)


class ReleaseListCreateApi(ProjectScopedMixin, generics.GenericAPIView):
    """GET: the project's releases, newest first. POST {tag?, policy?}: cut a new release (202);
    it is built in the background, poll its detail for `status`."""

    project_roles = REVIEWERS
    serializer_class = ReleaseSerializer
    throttle_scope = "releases"  # each release is a background build: the strictest write rate

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return DatasetRelease.objects.none()
        return selectors.release_list(project=self.request.project).select_related("guideline_version")

    @extend_schema(responses=ReleaseSerializer(many=True))
    def get(self, request, slug: str):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ReleaseSerializer(page, many=True).data)

    @extend_schema(request=ReleaseCreateSerializer, responses={202: ReleaseSerializer})
    def post(self, request, slug: str):
        data = ReleaseCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        release = services.release_create(
            project=request.project,
            user=request.user,
            tag=data.validated_data.get("tag", ""),
            policy=data.validated_data.get("policy"),
        )
        return Response(ReleaseSerializer(release).data, status=status.HTTP_202_ACCEPTED)


class ReleaseDetailApi(ProjectScopedMixin, APIView):
    """One release: status and progress while building; counts and SHA-256 once ready."""

    project_roles = REVIEWERS

    @extend_schema(responses=ReleaseSerializer)
    def get(self, request, slug: str, tag: str):
        return Response(ReleaseSerializer(selectors.release_get(project=request.project, tag=tag)).data)


class ReleaseDownloadApi(ProjectScopedMixin, APIView):
    """The stored file of a ready release (`jsonl`, `csv`, or `json`: the JSONL as one array),
    streamed as an attachment; the X-Release-SHA256 header carries the JSONL digest. 400 while the
    release is not ready."""

    project_roles = REVIEWERS

    def perform_content_negotiation(self, request, force=False):
        # The body is a file, not a rendered document: any Accept header is fine.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        parameters=[
            OpenApiParameter("file_format", str, OpenApiParameter.PATH, enum=FILE_FORMATS),
            OpenApiParameter(
                "X-Release-SHA256",
                str,
                OpenApiParameter.HEADER,
                response=[200],
                description="SHA-256 of the release's JSONL file.",
            ),
        ],
        responses={
            (200, CONTENT_TYPES["jsonl"].split(";")[0]): OpenApiResponse(
                OpenApiTypes.BINARY, description=DOWNLOAD_DESCRIPTION
            ),
            (200, CONTENT_TYPES["csv"].split(";")[0]): OpenApiResponse(
                OpenApiTypes.BINARY, description=DOWNLOAD_DESCRIPTION
            ),
            (200, CONTENT_TYPES["json"].split(";")[0]): OpenApiResponse(
                {"type": "array", "items": {"type": "object", "additionalProperties": True}},
                description=DOWNLOAD_DESCRIPTION,
            ),
            400: OpenApiResponse(
                inline_serializer("ReleaseNotReady", {"detail": serializers.CharField()}),
                description="The release is not ready (still building, or failed).",
            ),
        },
    )
    def get(self, request, slug: str, tag: str, file_format: str):
        release = selectors.release_get(project=request.project, tag=tag)
        name, size = selectors.release_file_get(release=release, file_format=file_format)
        return release_file_response(release=release, name=name, size=size, file_format=file_format)


class ReleaseDiffApi(ProjectScopedMixin, APIView):
    """GET ?old=TAG&new=TAG: added, removed and relabeled examples, and kept examples whose split
    changed (lists cut at 500; counts complete)."""

    project_roles = REVIEWERS

    @extend_schema(parameters=[ReleaseDiffQuerySerializer], responses=ReleaseDiffSerializer)
    def get(self, request, slug: str):
        query = query_params_validate(ReleaseDiffQuerySerializer, request)
        old = selectors.release_get(project=request.project, tag=query["old"])
        new = selectors.release_get(project=request.project, tag=query["new"])
        return Response(ReleaseDiffSerializer(selectors.release_diff(old=old, new=new)).data)


release_api_urlpatterns = [
    path("releases/", ReleaseListCreateApi.as_view(), name="project_releases"),
    path("releases/diff/", ReleaseDiffApi.as_view(), name="project_release_diff"),
    path("releases/<str:tag>/", ReleaseDetailApi.as_view(), name="project_release"),
    path(
        "releases/<str:tag>/download/<str:file_format>/",
        ReleaseDownloadApi.as_view(),
        name="project_release_download",
    ),
]
