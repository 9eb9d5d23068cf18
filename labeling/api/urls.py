"""Project-scoped API routes of the labeling app, mounted under api/v1/projects/<slug>/."""

from django.urls import path

from labeling.api import views

project_urlpatterns = [
    path("annotations/", views.AnnotationListApi.as_view(), name="project_annotations"),
]
