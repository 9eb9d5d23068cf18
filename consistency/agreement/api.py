"""Consistency over the REST API: published guideline versions (every member) and the latest
agreement report's JSON (managers and SMEs)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from consistency.agreement.selectors import report_latest_succeeded, report_pending
from consistency.review.api_selectors import guideline_version_get_api, guideline_version_list_api
from consistency.review.serializers import GuidelineVersionListSerializer, GuidelineVersionSerializer
from core.api import REVIEWERS, ProjectScopedMixin
from projects.models import GuidelineVersion

NOT_COMPUTED_MESSAGE = (
    "No agreement report has been computed for this project yet. Compute one on the agreement "
    "dashboard or with `manage.py agreement SLUG`."
)


class AgreementReportLatestApi(ProjectScopedMixin, APIView):
    """GET: the agreement JSON contract of the project's latest succeeded report.

    200 with the report's JSON (the same document `manage.py agreement SLUG --json` prints).
    404 `{"detail", "status"}` when no report has succeeded yet; `status` is "queued" or "running"
    when one is on its way, else null. Labelers get 403; non-members 404, as for a missing project.
    """

    project_roles = REVIEWERS

    @extend_schema(
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="The agreement JSON contract."),
            404: OpenApiResponse(OpenApiTypes.OBJECT, description="No report yet, or no such project."),
        }
    )
    def get(self, request, slug: str):
        report = report_latest_succeeded(project=request.project)
        if report is None:
            pending = report_pending(project=request.project)
            return Response(
                {"detail": NOT_COMPUTED_MESSAGE, "status": pending.status if pending else None},
                status=status.HTTP_404_NOT_FOUND,
            )
        response = Response(report.result)
        response["X-Agreement-Report-Id"] = str(report.pk)
        return response


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
