from django.contrib import admin

from consistency.agreement.models import AgreementReport


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
