"""Read-mostly admin views of assignments and annotations, for support and debugging.
Labeling itself happens through the services, which keep the counters and leases consistent,
so the admin does not add or delete rows."""

from django.contrib import admin

from labeling.models import Annotation, Assignment


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = ("example", "rater", "status", "slot", "expires_at", "updated_at")
    list_filter = ("status", "project")
    raw_id_fields = ("example", "rater", "project")
    search_fields = ("rater__username", "example__external_id")


@admin.register(Annotation)
class AnnotationAdmin(ReadOnlyAdmin):
    list_display = ("example", "rater", "label", "ambiguous", "guideline_version", "created_at")
    list_filter = ("source", "ambiguous")
    raw_id_fields = ("example", "rater", "label", "guideline_version")
    search_fields = ("rater__username", "example__external_id")
