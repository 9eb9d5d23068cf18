"""Project-scoped API routes of the consistency app, mounted under api/v1/projects/<slug>/.

Disagreements, resolutions and dataset releases add their routes here.
"""

from django.urls import path

from . import views

project_urlpatterns = [
    path("agreement/", views.AgreementReportLatestApi.as_view(), name="project_agreement"),
    path("guideline-versions/", views.GuidelineVersionListApi.as_view(), name="project_guideline_versions"),
    path(
        "guideline-versions/<int:number>/",
        views.GuidelineVersionDetailApi.as_view(),
        name="project_guideline_version",
    ),
]
