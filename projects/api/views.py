"""Projects API: my projects, one project's detail and labels, its examples, and imports of
examples and of annotations made elsewhere (both background jobs polled at imports/<id>/).

Every view under projects/<slug>/ resolves the caller's membership through
projects.api.base.ProjectRolePermission and reads only through that project.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import AllowListOrderingFilter, ClosedQueryMixin, CursorPagination, query_params_validate
from projects.api.base import MANAGERS, REVIEWERS, ProjectScopedMixin
from projects.api.selectors import (
    example_get_api,
    example_list_api,
    guideline_version_get_api,
    guideline_version_list_api,
    import_batch_get_api,
    label_list_api,
    membership_list_api,
)
from projects.api.serializers import (
    AnnotationImportRequestSerializer,
    ExampleFilterSerializer,
    ExampleSerializer,
    GuidelineDiffQuerySerializer,
    GuidelineDiffSerializer,
    GuidelineVersionListSerializer,
    GuidelineVersionSerializer,
    ImportBatchSerializer,
    ImportQueuedSerializer,
    ImportRequestSerializer,
    LabelSerializer,
    ProjectDetailSerializer,
    ProjectListSerializer,
)
from projects.guideline_diff import diff_guideline_text
from projects.models import Example, GuidelineVersion, ImportBatch, Label, Membership
from projects.selectors import guideline_in_force
from projects.services.imports import import_batch_create


class ProjectListApi(ClosedQueryMixin, generics.ListAPIView):
    """The projects I am a member of, with my role in each."""

    permission_classes = [IsAuthenticated]
    serializer_class = ProjectListSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Membership.objects.none()
        return membership_list_api(user=self.request.user)


class ProjectDetailApi(ProjectScopedMixin, APIView):
    """One project: settings every member needs, its labels and the guideline version in force."""

    @extend_schema(responses=ProjectDetailSerializer)
    def get(self, request, slug: str):
        project = request.project
        serializer = ProjectDetailSerializer(
            project,
            context={
                "role": request.membership.role,
                "labels": list(label_list_api(project=project)),
                "guideline_in_force": guideline_in_force(project=project),
            },
        )
        return Response(serializer.data)


class LabelListApi(ProjectScopedMixin, generics.ListAPIView):
    """The project's labels in their display order."""

    serializer_class = LabelSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Label.objects.none()
        return label_list_api(project=self.request.project)


@extend_schema(parameters=[ExampleFilterSerializer])
class ExampleListApi(ProjectScopedMixin, generics.ListAPIView):
    """The project's examples (managers and SMEs), cursor-paginated.

    Labelers are refused: examples carry metadata the project hides from them and annotation
    counts that reveal other raters' progress; they get examples through the labeling page.
    """

    project_roles = REVIEWERS
    serializer_class = ExampleSerializer
    query_serializer_class = ExampleFilterSerializer
    pagination_class = CursorPagination
    filter_backends = [AllowListOrderingFilter]
    ordering_choices = ("id", "-id")
    ordering = ["id"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Example.objects.none()
        filters = query_params_validate(ExampleFilterSerializer, self.request)
        return example_list_api(project=self.request.project, **filters)


class ExampleDetailApi(ProjectScopedMixin, generics.RetrieveAPIView):
    """One example of the project (managers and SMEs)."""

    project_roles = REVIEWERS
    serializer_class = ExampleSerializer
    queryset = Example.objects.none()  # for the schema only; get_object reads through the project

    def get_object(self):
        return example_get_api(project=self.request.project, example_id=self.kwargs["id"])


class ExampleImportApi(ProjectScopedMixin, APIView):
    """Upload a file of examples (managers): the import runs in the background; poll `url`."""

    project_roles = MANAGERS
    parser_classes = [MultiPartParser]
    throttle_scope = "imports"  # each upload is a background job: the strictest write rate

    @extend_schema(
        request={"multipart/form-data": ImportRequestSerializer},
        responses={202: ImportQueuedSerializer, 400: OpenApiResponse(description="Invalid file or format.")},
    )
    def post(self, request, slug: str):
        form = ImportRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        return _queued(request, form, kind=ImportBatch.Kind.EXAMPLES, options={})


def _queued(request, form, *, kind: str, options: dict) -> Response:
    """Store the upload and queue its import; 202 with the URL to poll (also in Location)."""
    upload = form.validated_data["file"]
    try:
        batch = import_batch_create(
            project=request.project,
            user=request.user,
            uploaded_file_or_path=upload,
            source_name=upload.name,
            file_format=form.validated_data.get("format") or None,
            kind=kind,
            options=options,
        )
    except DjangoValidationError as exc:
        raise exceptions.ValidationError({"file": exc.messages}) from None
    url = request.build_absolute_uri(
        reverse("api:project_import", kwargs={"slug": request.project.slug, "id": batch.pk})
    )
    data = ImportQueuedSerializer({"id": batch.pk, "status": batch.status, "url": url, "job": batch}).data
    return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": url})


class AnnotationImportApi(ProjectScopedMixin, APIView):
    """Upload annotations made elsewhere (managers); the import runs in the background, then the
    project's decision rules run on the examples it touched. Poll `url`.

    All or nothing, as the command line: any invalid row means nothing is written and the errors
    name the line (and the Label Studio task) and the field. Unknown labels, and unknown examples
    without a text, are errors here: `create` exists only on the command line, where the file is
    the operator's own, so a script's upload can never add labels or text-less examples to a
    project by accident.
    """

    project_roles = MANAGERS
    parser_classes = [MultiPartParser]
    throttle_scope = "imports"

    @extend_schema(
        request={"multipart/form-data": AnnotationImportRequestSerializer},
        responses={202: ImportQueuedSerializer, 400: OpenApiResponse(description="Invalid file or format.")},
    )
    def post(self, request, slug: str):
        if "create" in request.data:
            raise exceptions.ValidationError(
                {"create": ["Only the command line may create labels and examples from a file."]}
            )
        form = AnnotationImportRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        options = {"from_name": form.validated_data.get("from_name", "")}
        return _queued(request, form, kind=ImportBatch.Kind.ANNOTATIONS, options=options)


class ImportBatchDetailApi(ProjectScopedMixin, APIView):
    """An import's kind, status, progress percent (null once failed), counts, summary and its
    first errors (line, column, message)."""

    project_roles = MANAGERS

    @extend_schema(responses=ImportBatchSerializer)
    def get(self, request, slug: str, id: int):
        batch = import_batch_get_api(project=request.project, batch_id=id)
        return Response(ImportBatchSerializer(batch).data)


# --------------------------------------------------------------------------------------------------
# Guidelines


class GuidelineVersionListApi(ProjectScopedMixin, generics.ListAPIView):
    """Published guideline versions, newest first (the first is the one in force)."""

    serializer_class = GuidelineVersionListSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return GuidelineVersion.objects.none()
        return guideline_version_list_api(project=self.request.project)


class GuidelineVersionDetailApi(ProjectScopedMixin, APIView):
    """One published guideline version, with its Markdown body."""

    @extend_schema(responses=GuidelineVersionSerializer)
    def get(self, request, slug: str, number: int):
        version = guideline_version_get_api(project=request.project, number=number)
        return Response(GuidelineVersionSerializer(version).data)


class GuidelineVersionDiffApi(ProjectScopedMixin, APIView):
    """The word-level changes from version `a` to version `b` of the published guideline, as HTML
    (all text escaped; removals in <del>, additions in <ins>) with word counts."""

    query_serializer_class = GuidelineDiffQuerySerializer

    @extend_schema(parameters=[GuidelineDiffQuerySerializer], responses=GuidelineDiffSerializer)
    def get(self, request, slug: str):
        query = query_params_validate(GuidelineDiffQuerySerializer, request)
        old = guideline_version_get_api(project=request.project, number=query["a"])
        new = guideline_version_get_api(project=request.project, number=query["b"])
        diff = diff_guideline_text(old.body, new.body)
        data = {"a": old.number, "b": new.number, "html": str(diff.html), "stats": diff.stats}
        return Response(GuidelineDiffSerializer(data).data)
