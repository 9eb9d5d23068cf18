"""URLs of the consistency app: its pages under /projects/<slug>/ (the agreement dashboard, the SME
review queue, dataset releases), and its API routes, mounted under /api/v1/projects/<slug>/ by
config.api_urls."""

from django.urls import path

from consistency.agreement import api as agreement_api
from consistency.agreement import views as dashboard_views
from consistency.examples import api as examples_api
from consistency.examples import views as example_views
from consistency.quality import api as quality_api
from consistency.quality import views as quality_views
from consistency.releases import media_views as release_media_views
from consistency.releases import views as release_views
from consistency.releases.api import release_api_urlpatterns
from consistency.review import api as review_api
from consistency.review import views as review_views

app_name = "consistency"

urlpatterns = [
    path("agreement/", dashboard_views.agreement_dashboard, name="agreement_dashboard"),
    path("agreement/reports/", dashboard_views.agreement_report_create, name="agreement_report_create"),
    path(
        "agreement/reports/<int:report_id>/retry/",
        dashboard_views.agreement_report_retry,
        name="agreement_report_retry",
    ),
    path("agreement/status/", dashboard_views.agreement_report_status, name="agreement_report_status"),
    path("examples/", example_views.example_browser, name="examples"),
    path("examples/export/", example_views.example_export, name="example_export"),
    path("examples/<int:example_id>/", example_views.example_page, name="example"),
    path("examples/<int:example_id>/tags/", example_views.example_tags, name="example_tags"),
    path("quality/", quality_views.quality_overview, name="quality"),
    path("quality/gold/draw/", quality_views.gold_draw, name="gold_draw"),
    path("quality/gold/<int:example_id>/", quality_views.gold_label, name="gold_label"),
    path("quality/models/<int:model_id>/", quality_views.model_report_page, name="model_report"),
    path("quality/label-issues/", quality_views.label_issues_run, name="label_issues_run"),
    path("review/", review_views.review_queue, name="review_queue"),
    path("review/<int:disagreement_id>/", review_views.review_item, name="review_item"),
    path("review/<int:disagreement_id>/resolve/", review_views.review_resolve, name="review_resolve"),
    path(
        "review/resolutions/<int:resolution_id>/revise/",
        review_views.resolution_revise,
        name="resolution_revise",
    ),
    path(
        "review/resolutions/<int:resolution_id>/worked-example/",
        review_views.worked_example_add,
        name="worked_example_add",
    ),
    path("review/relabel/", review_views.relabel_request, name="relabel_request"),
    path("review/<int:disagreement_id>/skip/", review_views.review_skip, name="review_skip"),
    path("review/<int:disagreement_id>/questions/", review_views.question_ask, name="question_ask"),
    path("my-work/questions/", review_views.my_questions, name="my_questions"),
    path("my-work/questions/<int:question_id>/answer/", review_views.my_questions, name="question_answer"),
    path("releases/", release_views.release_list, name="releases"),
    path("releases/diff/", release_views.release_diff, name="release_diff"),
    path("releases/<str:tag>/", release_views.release_detail, name="release_detail"),
    path("releases/<str:tag>/retry/", release_views.release_retry, name="release_retry"),
    path(
        "releases/<str:tag>/download/media/",
        release_media_views.release_media_zip,
        name="release_media_zip",
    ),
    path(
        "releases/<str:tag>/download/media-list/",
        release_media_views.release_media_list,
        name="release_media_list",
    ),
    path(
        "releases/<str:tag>/download/<str:file_format>/",
        release_views.release_download,
        name="release_download",
    ),
]

api_project_urlpatterns = [
    path("agreement/", agreement_api.AgreementReportLatestApi.as_view(), name="project_agreement"),
    path("disagreements/", review_api.DisagreementListApi.as_view(), name="project_disagreements"),
    path("disagreements/<int:id>/", review_api.DisagreementDetailApi.as_view(), name="project_disagreement"),
    path(
        "disagreements/<int:id>/resolve/",
        review_api.DisagreementResolveApi.as_view(),
        name="project_disagreement_resolve",
    ),
    path("relabel/", review_api.RelabelApi.as_view(), name="project_relabel"),
    path("models/", quality_api.PredictionSetListApi.as_view(), name="project_models"),
    path("tags/bulk/", examples_api.TagBulkApi.as_view(), name="project_tags_bulk"),
    path("label-issues/", quality_api.LabelIssuesApi.as_view(), name="project_label_issues"),
    path("models/<int:id>/report/", quality_api.ModelReportApi.as_view(), name="project_model_report"),
    *release_api_urlpatterns,
]
