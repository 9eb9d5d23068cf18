"""Project pages: the list, a project, its settings, its guideline and imports."""

from django.urls import path

from projects.views import audit, guidelines, imports, invitations, media, pages

app_name = "projects"

urlpatterns = [
    path("", pages.project_list, name="list"),
    path("new/", pages.project_create, name="create"),
    path("<slug:slug>/", pages.project_detail, name="detail"),
    path("<slug:slug>/settings/", pages.project_settings, name="settings"),
    path("<slug:slug>/settings/labels/", pages.label_save, name="label_save"),
    path("<slug:slug>/settings/labels/<int:label_id>/delete/", pages.label_delete, name="label_delete"),
    path("<slug:slug>/settings/members/", pages.member_save, name="member_save"),
    path(
        "<slug:slug>/settings/members/<int:membership_id>/remove/", pages.member_remove, name="member_remove"
    ),
    path(
        "<slug:slug>/settings/members/<int:membership_id>/deactivate/",
        pages.member_deactivate,
        name="member_deactivate",
    ),
    path("<slug:slug>/settings/invitations/", invitations.invitation_send, name="invitation_send"),
    path(
        "<slug:slug>/settings/invitations/<int:invitation_id>/revoke/",
        invitations.invitation_revoke,
        name="invitation_revoke",
    ),
    path("<slug:slug>/settings/guideline/", guidelines.guideline_edit, name="guideline"),
    path("<slug:slug>/settings/guideline/publish/", guidelines.guideline_publish, name="guideline_publish"),
    path("<slug:slug>/guidelines/", guidelines.guideline_versions, name="guidelines"),
    path(
        "<slug:slug>/guidelines/v<int:number>/", guidelines.guideline_version_detail, name="guideline_version"
    ),
    path("<slug:slug>/guidelines/diff/", guidelines.guideline_diff, name="guideline_diff"),
    path("<slug:slug>/audit/", audit.audit_log_page, name="audit_log"),
    path("<slug:slug>/examples/<int:example_id>/media/", media.example_media, name="example_media"),
    path("<slug:slug>/import/", imports.import_upload, name="import"),
    path("<slug:slug>/import/recent/", imports.import_recent, name="import_recent"),
    path("<slug:slug>/import/<int:batch_id>/", imports.import_status, name="import_status"),
    path("<slug:slug>/import/<int:batch_id>/retry/", imports.import_retry, name="import_retry"),
]
