"""Agreement over the REST API: the latest finished report's JSON, for managers and SMEs of the project."""

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import AccessDenied, NotFound
from projects.models import Role
from projects.selectors import membership_get

from ..agreement import report_latest_succeeded, report_pending

NOT_COMPUTED_MESSAGE = (
    "No agreement report has been computed for this project yet. Compute one on the agreement "
    "dashboard or with `manage.py agreement SLUG`."
)


class AgreementReportLatestApi(APIView):
    """GET: the agreement JSON contract of the project's latest succeeded report.

    200 with the report's JSON (the same document `manage.py agreement SLUG --json` prints).
    404 `{"detail", "status"}` when no report has succeeded yet; `status` is "queued" or "running"
    when one is on its way, else null. Labelers get 403; non-members 404, as for a missing project.
    """

    def get(self, request, slug: str):
        try:
            membership = membership_get(user=request.user, slug=slug, roles=(Role.MANAGER, Role.SME))
        except NotFound as exc:
            raise exceptions.NotFound(exc.message) from None
        except AccessDenied as exc:
            raise exceptions.PermissionDenied(exc.message) from None
        report = report_latest_succeeded(project=membership.project)
        if report is None:
            pending = report_pending(project=membership.project)
            return Response(
                {"detail": NOT_COMPUTED_MESSAGE, "status": pending.status if pending else None},
                status=status.HTTP_404_NOT_FOUND,
            )
        response = Response(report.result)
        response["X-Agreement-Report-Id"] = str(report.pk)
        return response
