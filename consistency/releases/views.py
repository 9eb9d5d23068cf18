"""Dataset release pages under /projects/<slug>/releases/: the list with the form that cuts a new
release, one release with its build progress (htmx polling, a plain Refresh link without JS), the
downloads of its stored files, and the diff of two releases. Managers and SMEs only; labelers get
403, other projects' users 404."""

from django import forms
from django.contrib import messages
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from consistency.releases import exports, selectors, services
from consistency.releases.media import release_has_media
from consistency.releases.policy import SOURCES, ReleasePolicy, json_array_chunks, json_array_size
from core.errors import ApplicationError, Conflict, NotFound
from core.htmx import render_page_or_partial
from core.jobs.services import job_retry
from projects.access import project_role_required
from projects.models import Role, TaskType
from projects.selectors import metadata_fields, tag_vocabulary

REVIEWERS = (Role.MANAGER, Role.SME)
BLOCK_SIZE = 256 * 1024
CONTENT_TYPES = {
    "jsonl": "application/x-ndjson; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json; charset=utf-8",
}


class ReleaseForm(forms.Form):
    tag = forms.CharField(required=False, max_length=40, help_text="Empty for the next vN.")
    sources = forms.MultipleChoiceField(
        choices=[(s, s.replace("_", "-")) for s in SOURCES],
        initial=list(ReleasePolicy().sources),
        widget=forms.CheckboxSelectMultiple,
    )
    min_agreement = forms.FloatField(min_value=0, max_value=1, initial=0.0)
    exclude_ambiguous = forms.BooleanField(required=False, initial=True)
    include_rationale = forms.BooleanField(required=False)
    include_raters = forms.BooleanField(required=False)
    min_posterior = forms.FloatField(min_value=0, max_value=1, initial=0.9, help_text="For Dawid-Skene.")
    train = forms.FloatField(min_value=0, max_value=1, initial=0.8)
    dev = forms.FloatField(min_value=0, max_value=1, initial=0.1)
    test = forms.FloatField(min_value=0, max_value=1, initial=0.1)
    stratify_field = forms.ChoiceField(required=False, choices=[("", "label only")])
    include_tags = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Keep only examples with at least one of these tags (none ticked: every example).",
    )
    exclude_tags = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave out examples with any of these tags.",
    )

    def __init__(
        self, *args, fields: list[str], task_type: str = TaskType.SINGLE, tags: list[str] = (), **kwargs
    ):
        super().__init__(*args, **kwargs)
        if tags:
            for name in ("include_tags", "exclude_tags"):
                self.fields[name].choices = [(tag, tag) for tag in tags]
        else:  # a project without tags has nothing to filter by
            self.fields.pop("include_tags")
            self.fields.pop("exclude_tags")
        if task_type == TaskType.SPANS:  # splits of span releases are not stratified by answer
            self.fields["stratify_field"].choices = [("", "none")] + [(f, f) for f in fields]
        else:
            self.fields["stratify_field"].choices = [("", "label only")] + [
                (f, f"label and {f}") for f in fields
            ]
        if task_type != TaskType.SINGLE:  # Dawid-Skene models single labels only
            sources = self.fields["sources"]
            sources.choices = [(s, name) for s, name in sources.choices if s != "dawid_skene"]
            self.fields.pop("min_posterior")

    def policy(self) -> dict:
        data = self.cleaned_data
        return {
            "sources": data["sources"],
            "min_agreement": data["min_agreement"],
            "exclude_ambiguous": data["exclude_ambiguous"],
            "include_rationale": data["include_rationale"],
            "include_raters": data["include_raters"],
            "min_posterior": data.get("min_posterior", ReleasePolicy().min_posterior),
            "ratios": [data["train"], data["dev"], data["test"]],
            "stratify_field": data["stratify_field"],
            "include_tags": data.get("include_tags", []),
            "exclude_tags": data.get("exclude_tags", []),
        }


@require_http_methods(["GET", "POST"])
@project_role_required(*REVIEWERS)
def release_list(request, slug):
    project = request.project
    form = ReleaseForm(
        request.POST or None,
        fields=metadata_fields(project=project),
        task_type=project.task_type,
        tags=tag_vocabulary(project=project),
    )
    if request.method == "POST" and form.is_valid():
        try:
            release = services.release_create(
                project=project, user=request.user, tag=form.cleaned_data["tag"], policy=form.policy()
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            # No flash message: the release page shows the build's state and keeps it current.
            return redirect("consistency:release_detail", slug=project.slug, tag=release.tag)
    releases = list(selectors.release_list(project=project)[:200])
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "consistency/releases.html",
        {"project": project, "form": form, "releases": releases},
        status=status,
    )


def _release(request, tag):
    try:
        return selectors.release_get(project=request.project, tag=tag)
    except NotFound:
        raise Http404("Release not found.") from None


@require_GET
@project_role_required(*REVIEWERS)
def release_detail(request, slug, tag):
    release = _release(request, tag)
    label_split = [
        {"label": label, **per_split}
        for label, per_split in (release.counts.get("label_split") or {}).items()
    ]
    ready = _ready(request.project)
    others = [r for r in ready if r.pk != release.pk]
    return render_page_or_partial(
        request,
        page="consistency/release_detail.html",
        partial="consistency/release_status.html",
        context={
            "project": request.project,
            "release": release,
            "label_split": label_split,
            "others": others,
            "previous": _previous(ready, release),
            "has_media": release.status == "ready" and release_has_media(release=release),
        },
    )


@require_POST
@project_role_required(*REVIEWERS)
def release_retry(request, slug, tag):
    """Build again, under its tag and policy, a release whose build failed for a reason a retry may
    fix (its worker stopped); a ready release never changes."""
    release = _release(request, tag)
    try:
        job_retry(job=release, user=request.user)
    except Conflict as exc:
        messages.error(request, exc.message)
    return redirect("consistency:release_detail", slug=slug, tag=release.tag)


def _ready(project) -> list:
    """The project's ready releases, newest first."""
    return [r for r in selectors.release_list(project=project) if r.status == "ready"]


def _previous(ready: list, release):
    """The ready release cut just before `release` (what "what changed" compares it with)."""
    return next((r for r in ready if (r.created_at, r.pk) < (release.created_at, release.pk)), None)


@require_GET
@project_role_required(*REVIEWERS)
def release_download(request, slug, tag, file_format):
    release = _release(request, tag)
    try:
        if file_format not in exports.STORED_FORMATS:  # derived, or unknown (404)
            return release_export_response(
                release=release, export=exports.release_export_get(release=release, file_format=file_format)
            )
        name, size = selectors.release_file_get(release=release, file_format=file_format)
    except NotFound:
        raise Http404("No such file.") from None
    except ApplicationError:
        return redirect("consistency:release_detail", slug=slug, tag=tag)
    return release_file_response(release=release, name=name, size=size, file_format=file_format)


def release_export_response(*, release, export) -> FileResponse:
    """Stream a derived file (Parquet, Hugging Face zip, Label Studio JSON) as an attachment, with
    its own SHA-256 beside the release's."""
    export_format = exports.EXPORT_FORMATS[export.file_format]
    response = FileResponse(
        default_storage.open(export.file, "rb"),
        as_attachment=True,
        filename=exports.export_filename(release=release, file_format=export.file_format),
        content_type=export_format.content_type,
    )
    response.block_size = BLOCK_SIZE
    response["Content-Length"] = str(export.bytes)
    response["X-Content-Type-Options"] = "nosniff"
    response["X-Release-SHA256"] = release.sha256
    response["X-File-SHA256"] = export.sha256
    return response


def _json_array_stream(name: str):
    # A generator: the response closes it when done (or on disconnect), which closes the file.
    with default_storage.open(name, "rb") as handle:
        yield from json_array_chunks(iter(lambda: handle.read(BLOCK_SIZE), b""))


def release_file_response(
    *, release, name: str, size: int, file_format: str
) -> FileResponse | StreamingHttpResponse:
    """Stream a stored release file as an attachment, never as something a browser would render.

    JSON (an array) is the stored JSONL rewritten on the fly, so it costs no storage and stays flat.
    """
    filename = f"{release.project.slug}-{release.tag}.{file_format}"
    if file_format == "json":
        response = StreamingHttpResponse(_json_array_stream(name), content_type=CONTENT_TYPES["json"])
        response["Content-Disposition"] = content_disposition_header(True, filename)
        response["Content-Length"] = str(json_array_size(jsonl_bytes=size, n_lines=release.n_items))
    else:
        response = FileResponse(
            default_storage.open(name, "rb"),
            as_attachment=True,
            filename=filename,
            content_type=CONTENT_TYPES[file_format],
        )
        response.block_size = BLOCK_SIZE  # fewer, larger chunks than the 4 KiB default; still flat
        response["Content-Length"] = str(size)
    response["X-Content-Type-Options"] = "nosniff"
    response["X-Release-SHA256"] = release.sha256
    return response


@require_GET
@project_role_required(*REVIEWERS)
def release_diff(request, slug):
    """Added, removed and relabeled examples between two releases (?old=&new=). Without them it
    compares the latest ready release with the one before it."""
    project = request.project
    ready = _ready(project)
    old_tag, new_tag = request.GET.get("old", ""), request.GET.get("new", "")
    if not new_tag and ready:
        new_tag = ready[0].tag
    if not old_tag and new_tag:
        newer = next((r for r in ready if r.tag == new_tag), None) or _release(request, new_tag)
        previous = _previous(ready, newer)
        old_tag = previous.tag if previous is not None else ""
    diff = None
    if old_tag and new_tag:
        old, new = _release(request, old_tag), _release(request, new_tag)
        diff = selectors.release_diff(old=old, new=new)
    return render(
        request,
        "consistency/release_diff.html",
        {
            "project": project,
            "ready": ready,
            "old_tag": old_tag,
            "new_tag": new_tag,
            "diff": diff,
            # An empty answer in words: no entities, none of these (a set).
            "empty_answer": "(no entities)" if project.task_type == TaskType.SPANS else "(none)",
            "releases_url": reverse("consistency:releases", args=[project.slug]),
        },
    )
