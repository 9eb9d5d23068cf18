from django.contrib import admin

from projects.models import Example, GuidelineDraft, GuidelineVersion, ImportBatch, Label, Membership, Project


class LabelInline(admin.TabularInline):
    model = Label
    extra = 0


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "overlap", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [LabelInline, MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "project__name"]


@admin.register(Example)
class ExampleAdmin(admin.ModelAdmin):
    list_display = ["external_id", "project", "annotation_count", "created_at"]
    list_filter = ["project"]
    search_fields = ["external_id", "text"]
    readonly_fields = ["annotation_count", "import_batch"]
    list_select_related = ["project"]
    show_full_result_count = False


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin):
    list_display = [
        "source_name",
        "project",
        "status",
        "rows_created",
        "rows_skipped",
        "error_count",
        "created_at",
    ]
    list_filter = ["status", "project"]
    readonly_fields = [f.name for f in ImportBatch._meta.fields]


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
