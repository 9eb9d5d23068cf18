"""Project-scoped API routes of the consistency app, mounted under api/v1/projects/<slug>/.

Dataset releases add their routes here.
"""

from django.urls import path

from consistency.agreement import api as views
from consistency.releases.api import release_api_urlpatterns
from consistency.review import api as review

project_urlpatterns = [
    path("agreement/", views.AgreementReportLatestApi.as_view(), name="project_agreement"),
    path("disagreements/", review.DisagreementListApi.as_view(), name="project_disagreements"),
    path("disagreements/<int:id>/", review.DisagreementDetailApi.as_view(), name="project_disagreement"),
    path(
        "disagreements/<int:id>/resolve/",
        review.DisagreementResolveApi.as_view(),
        name="project_disagreement_resolve",
    ),
    *release_api_urlpatterns,
]
