"""Agreement over the REST API: the latest agreement report's JSON (managers and SMEs)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from consistency.agreement.selectors import hlp_live, report_latest_succeeded, report_pending
from core.jobs.api import JobSerializer
from projects.api.base import REVIEWERS, ProjectScopedMixin

NOT_COMPUTED_MESSAGE = (
    "No agreement report has been computed for this project yet. Compute one on the agreement "
    "dashboard or with `manage.py agreement SLUG`."
)


class AgreementReportLatestApi(ProjectScopedMixin, APIView):
    """GET: the agreement JSON contract of the project's latest succeeded report.

    200 with the report's JSON (the same document `manage.py agreement SLUG --json` prints), plus
    `human_level_performance`: raters' accuracy on gold now, overall, per rater and per gold label.
    404 `{"detail", "status"}` when no report has succeeded yet; `status` is "queued" or "running"
    when one is on its way, else null, and then `job` gives that report's state (the JSON of every
    background job). Labelers get 403; non-members 404, as for a missing project.
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
            body = {"detail": NOT_COMPUTED_MESSAGE, "status": pending.status if pending else None}
            if pending is not None:
                body["job"] = JobSerializer(pending).data
            return Response(body, status=status.HTTP_404_NOT_FOUND)
        # Human-level performance on gold is live (not part of the snapshot): gold and honeypot
        # labels count as soon as they are written.
        response = Response({**report.result, "human_level_performance": hlp_live(project=request.project)})
        response["X-Agreement-Report-Id"] = str(report.pk)
        return response
