"""REST API, version 1. Every endpoint scopes its queryset to the caller's projects.

Each app keeps its project-scoped routes in `<app>/api/urls.py` as `project_urlpatterns`
(consistency: `api_project_urlpatterns` in consistency/urls.py, gathered from its sub-packages); they
are mounted under projects/<slug>/ here, where projects.api.base.ProjectRolePermission resolves the
caller's membership. A new app's routes are added by adding its list below.
"""

from django.urls import include, path

from consistency.urls import api_project_urlpatterns as consistency_project_urls
from labeling.api.urls import project_urlpatterns as labeling_project_urls
from projects.api.urls import project_urlpatterns as projects_project_urls
from projects.api.views import InvitationAcceptApi, ProjectListApi

app_name = "api"

urlpatterns: list = [
    path("projects/", ProjectListApi.as_view(), name="projects"),
    path("invitations/accept/", InvitationAcceptApi.as_view(), name="invitation_accept"),
    path(
        "projects/<slug:slug>/",
        include(projects_project_urls + labeling_project_urls + consistency_project_urls),
    ),
]
