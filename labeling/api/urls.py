"""Project-scoped API routes of the labeling app, mounted under api/v1/projects/<slug>/."""

from django.urls import path

from labeling.api import views

project_urlpatterns = [
    path("annotations/", views.AnnotationListApi.as_view(), name="project_annotations"),
    path("annotations/undo/", views.AnnotationUndoApi.as_view(), name="project_annotation_undo"),
    path("assignments/next/", views.AssignmentNextApi.as_view(), name="project_assignment_next"),
    path("assignments/<int:id>/skip/", views.AssignmentSkipApi.as_view(), name="project_assignment_skip"),
]
