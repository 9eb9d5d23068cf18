from django.contrib import admin

from consistency.models import AgreementReport, GuidelineDraft, GuidelineVersion


@admin.register(GuidelineVersion)
class GuidelineVersionAdmin(admin.ModelAdmin):
    """Published versions are append-only: the admin shows them but never edits them."""

    list_display = ["project", "number", "changelog", "author", "published_at"]
    list_filter = ["project"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(GuidelineDraft)
class GuidelineDraftAdmin(admin.ModelAdmin):
    list_display = ["project", "updated_by", "updated_at"]


@admin.register(AgreementReport)
class AgreementReportAdmin(admin.ModelAdmin):
    """Reports are append-only snapshots: visible here, never edited."""

    list_display = ["project", "status", "trigger", "n_annotations", "created_at", "finished_at"]
    list_filter = ["status", "project"]
    exclude = ["result"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False
