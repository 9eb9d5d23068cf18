"""Pages of the labeling app, under /projects/<slug>/."""

from django.urls import path

from labeling import views

app_name = "labeling"

urlpatterns = [
    path("label/", views.label_page, name="label"),
    path("label/<int:example_id>/submit/", views.annotation_submit, name="submit"),
    path("label/<int:example_id>/skip/", views.assignment_skip, name="skip"),
    path("label/undo/", views.annotation_undo, name="undo"),
    path("my-work/", views.my_work, name="my_work"),
    path("my-work/<int:annotation_id>/", views.annotation_edit, name="annotation_edit"),
    path("progress/", views.progress, name="progress"),
    path(
        "guidelines/v<int:number>/dismiss/", views.guideline_banner_dismiss, name="guideline_banner_dismiss"
    ),
]
