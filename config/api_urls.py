"""REST API, version 1. Every endpoint scopes its queryset to the caller's projects."""

from django.urls import path

from consistency.api.views import AgreementReportLatestApi

app_name = "api"

urlpatterns: list = [
    path("projects/<slug:slug>/agreement/", AgreementReportLatestApi.as_view(), name="project_agreement"),
]
