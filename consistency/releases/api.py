"""Dataset releases over the REST API (managers and SMEs; labelers 403, non-members 404): list and
cut releases, read one, download its stored file as a stream, and diff two.

The lead mounts `release_api_urlpatterns` under api/v1/projects/<slug>/ (consistency/api/urls.py).
"""

from django.core.validators import RegexValidator
from django.urls import path, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from consistency.releases import exports, selectors, services
from consistency.releases.models import DatasetRelease
from consistency.releases.policy import SOURCES, TAG_PATTERN
from consistency.releases.views import CONTENT_TYPES, release_export_response, release_file_response
from core.api import NO_NUL_CHARACTERS, ClosedSerializer, query_params_validate
from core.jobs.api import JobSerializer
from projects.api.base import REVIEWERS, ProjectScopedMixin

FILE_FORMATS = tuple(exports.all_formats())
DOWNLOAD_DESCRIPTION = (
    "The release file, by format: JSON Lines, CSV with a header row, a JSON array; Parquet of one "
    "split (parquet-train, parquet-dev, parquet-test); a Hugging Face dataset (hf: a zip with a "
    "dataset card and the Parquet files); Label Studio tasks (labelstudio); span projects also "
    "CoNLL-style BIO, a token and its tag per line (conll). 404 for a format the project's task "
    "type has not."
)
# Documented as a pattern too, so clients (and the schema tests) know what a tag looks like.
TAG_VALIDATOR = RegexValidator(
    TAG_PATTERN.pattern, "A tag is 1-40 letters, digits, dots, dashes or underscores."
)


class ReleaseSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(
        source="api_status",
        choices=["building", "ready", "failed"],
        read_only=True,
        help_text='"building" until it is ready or failed (`job.state` tells waiting from building).',
    )
    job = JobSerializer(
        source="*", read_only=True, help_text="The build's state, as for every background job."
    )
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Username of who cut the release."
    )
    guideline_version = serializers.SlugRelatedField(
        slug_field="number", read_only=True, allow_null=True, help_text="The guideline version in force."
    )
    downloads = serializers.SerializerMethodField(
        help_text="The formats a ready release downloads in (`download/<format>/`); empty until ready. "
        "The derived ones (Parquet, hf, labelstudio) are written after the build, or on first download."
    )

    def get_downloads(self, release) -> list[str]:
        if release.status != DatasetRelease.Status.READY:
            return []
        return exports.release_formats(project=release.project)

    class Meta:
        model = DatasetRelease
        fields = [
            "tag", "status", "progress_percent", "progress_text", "error", "created_at", "finished_at",
            "created_by", "policy", "guideline_version", "agreement_report", "n_items", "counts",
            "sha256", "jsonl_bytes", "csv_bytes", "downloads", "job",
        ]  # fmt: skip
        read_only_fields = fields


def _share(help_text: str) -> serializers.FloatField:
    return serializers.FloatField(required=False, min_value=0.0, max_value=1.0, help_text=help_text)


class ReleasePolicySerializer(ClosedSerializer):
    """What counts as clean and how it is split; missing fields take their defaults. Two rules
    no schema can state are checked after it (400): the ratios sum to 1, and `stratify_field`
    is a metadata field some example has."""

    sources = serializers.ListField(
        child=serializers.ChoiceField(choices=SOURCES),
        required=False,
        min_length=1,
        help_text="Where clean labels may come from (default gold, unanimous, majority).",
    )
    min_agreement = _share("The least share of raters agreeing (default 0).")
    exclude_ambiguous = serializers.BooleanField(
        required=False, help_text="Leave out examples a rater flagged as ambiguous (default true)."
    )
    include_rationale = serializers.BooleanField(required=False, help_text="Keep the SME's rationale.")
    include_raters = serializers.BooleanField(required=False, help_text="Keep raters' labels, pseudonymised.")
    use_dawid_skene = serializers.BooleanField(
        required=False, help_text="Label undecided examples by Dawid-Skene (same as source dawid_skene)."
    )
    min_posterior = _share("Dawid-Skene's least posterior for a label (default 0.9).")
    ratios = serializers.ListField(
        child=serializers.FloatField(min_value=0.0, max_value=1.0),
        required=False,
        min_length=3,
        max_length=3,
        help_text="Train, dev and test shares, summing to 1 (default 0.8, 0.1, 0.1).",
    )
    stratify_field = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        validators=[NO_NUL_CHARACTERS],
        help_text="A metadata field to stratify the split by, besides the label; blank for none.",
    )
    seed = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        validators=[NO_NUL_CHARACTERS],
        help_text="Seed of the split; blank for the project's own.",
    )
    include_tags = serializers.ListField(
        child=serializers.RegexField(r"^[a-z0-9][a-z0-9_.-]{0,49}$"),
        required=False,
        max_length=50,
        help_text="Keep only examples carrying at least one of these tags (none: no such filter).",
    )
    exclude_tags = serializers.ListField(
        child=serializers.RegexField(r"^[a-z0-9][a-z0-9_.-]{0,49}$"),
        required=False,
        max_length=50,
        help_text="Leave out examples carrying any of these tags.",
    )


class ReleaseQueuedSerializer(ReleaseSerializer):
    url = serializers.SerializerMethodField(help_text="Poll this (also in Location) until `status` is ready.")

    class Meta(ReleaseSerializer.Meta):
        fields = [*ReleaseSerializer.Meta.fields, "url"]
        read_only_fields = fields

    def get_url(self, release) -> str:
        return self.context["url"]


class ReleaseCreateSerializer(ClosedSerializer):
    tag = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=40,
        validators=[TAG_VALIDATOR],
        help_text='Unique in the project (409 when taken); "diff" is reserved. Blank or missing: next "vN".',
    )
    policy = ReleasePolicySerializer(required=False)


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


class ReleaseListCreateApi(ProjectScopedMixin, generics.ListAPIView):
    """GET: the project's releases, newest first. POST {tag?, policy?}: cut a new release (202);
    it is built in the background, poll `url` (its detail) for `status`."""

    project_roles = REVIEWERS
    serializer_class = ReleaseSerializer
    throttle_scope = "releases"  # each release is a background build: the strictest write rate

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return DatasetRelease.objects.none()
        return selectors.release_list(project=self.request.project).select_related("guideline_version")

    @extend_schema(
        request=ReleaseCreateSerializer,
        responses={
            202: ReleaseQueuedSerializer,
            400: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="Invalid input, field by field; also ratios that do not sum to 1, or a "
                "stratify_field no example has.",
            ),
            409: OpenApiResponse(
                inline_serializer("ReleaseTagTaken", {"detail": serializers.CharField()}),
                description="The project already has a release with this tag.",
            ),
        },
    )
    def post(self, request, slug: str):
        data = ReleaseCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        release = services.release_create(
            project=request.project,
            user=request.user,
            tag=data.validated_data.get("tag", ""),
            policy=data.validated_data.get("policy"),
        )
        url = request.build_absolute_uri(
            reverse("api:project_release", kwargs={"slug": request.project.slug, "tag": release.tag})
        )
        body = ReleaseQueuedSerializer(release, context={"url": url}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": url})


class ReleaseDetailApi(ProjectScopedMixin, APIView):
    """One release: status and progress while building; counts and SHA-256 once ready."""

    project_roles = REVIEWERS

    @extend_schema(responses=ReleaseSerializer)
    def get(self, request, slug: str, tag: str):
        return Response(ReleaseSerializer(selectors.release_get(project=request.project, tag=tag)).data)


class ReleaseDownloadApi(ProjectScopedMixin, APIView):
    """The stored file of a ready release (`jsonl`, `csv`, or `json`: the JSONL as one array; or a
    derived one: `parquet-<split>`, `hf`, `labelstudio`, and for span projects `conll`, written
    after the build or on its first download), streamed as an attachment; the X-Release-SHA256
    header carries the JSONL digest, X-File-SHA256 a derived file's own. 404 for an unknown format
    or one the project's task type has not, 409 while the release is not ready."""

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
            OpenApiParameter(
                "X-File-SHA256",
                str,
                OpenApiParameter.HEADER,
                response=[200],
                description="SHA-256 of the file itself, for the derived formats (Parquet, hf, labelstudio, "
                "conll).",
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
            (200, exports.PARQUET): OpenApiResponse(OpenApiTypes.BINARY, description=DOWNLOAD_DESCRIPTION),
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description=DOWNLOAD_DESCRIPTION),
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.BINARY, description=DOWNLOAD_DESCRIPTION),
            409: OpenApiResponse(
                inline_serializer("ReleaseNotReady", {"detail": serializers.CharField()}),
                description="The release is not ready (still building, or failed).",
            ),
        },
    )
    def get(self, request, slug: str, tag: str, file_format: str):
        release = selectors.release_get(project=request.project, tag=tag)
        if file_format not in exports.STORED_FORMATS:  # derived, or unknown (404)
            export = exports.release_export_get(release=release, file_format=file_format)
            return release_export_response(release=release, export=export)
        name, size = selectors.release_file_get(release=release, file_format=file_format)
        return release_file_response(release=release, name=name, size=size, file_format=file_format)


class ReleaseDiffApi(ProjectScopedMixin, APIView):
    """GET ?old=TAG&new=TAG: added, removed and relabeled examples, and kept examples whose split
    changed (lists cut at 500; counts complete)."""

    project_roles = REVIEWERS
    query_serializer_class = ReleaseDiffQuerySerializer

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
