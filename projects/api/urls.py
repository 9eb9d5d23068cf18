"""Project-scoped API routes of the projects app, mounted under api/v1/projects/<slug>/."""

from django.urls import path

from projects.api import views

project_urlpatterns = [
    path("", views.ProjectDetailApi.as_view(), name="project"),
    path("labels/", views.LabelListApi.as_view(), name="project_labels"),
    path("labels/<int:id>/", views.LabelDetailApi.as_view(), name="project_label"),
    path("members/", views.MemberListApi.as_view(), name="project_members"),
    path("members/<int:id>/", views.MemberDetailApi.as_view(), name="project_member"),
    path("invitations/", views.InvitationListApi.as_view(), name="project_invitations"),
    path("guideline/draft/", views.GuidelineDraftApi.as_view(), name="project_guideline_draft"),
    path("examples/", views.ExampleListApi.as_view(), name="project_examples"),
    path("examples/import/", views.ExampleImportApi.as_view(), name="project_examples_import"),
    path("examples/<int:id>/", views.ExampleDetailApi.as_view(), name="project_example"),
    path("examples/<int:id>/media/", views.ExampleMediaApi.as_view(), name="project_example_media"),
    path("annotations/import/", views.AnnotationImportApi.as_view(), name="project_annotations_import"),
    path("imports/<int:id>/", views.ImportBatchDetailApi.as_view(), name="project_import"),
    path("gold/import/", views.GoldImportApi.as_view(), name="project_gold_import"),
    path("gold/sample/", views.GoldSampleApi.as_view(), name="project_gold_sample"),
    path("predictions/import/", views.PredictionImportApi.as_view(), name="project_predictions_import"),
    path("guideline-versions/", views.GuidelineVersionListApi.as_view(), name="project_guideline_versions"),
    # Before guideline-versions/<int:number>/, for readers; "diff" is not an int, so they never clash.
    path(
        "guideline-versions/diff/",
        views.GuidelineVersionDiffApi.as_view(),
        name="project_guideline_version_diff",
    ),
    path(
        "guideline-versions/<int:number>/",
        views.GuidelineVersionDetailApi.as_view(),
        name="project_guideline_version",
    ),
]
