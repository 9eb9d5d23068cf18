"""Import pages: upload a file of examples or annotations (managers only), watch its job until it
ends (and retry it if its worker stopped), and the list of recent jobs (imports, and re-deciding
after a rule change), which keeps itself up to date while one of them runs.

The request only stores the file and queues the job; the import itself runs in the worker.
"""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import Conflict, NotFound
from core.htmx import render_page_or_partial, wants_partial
from core.jobs.services import job_retry
from projects.access import project_role_required
from projects.forms import ImportUploadForm
from projects.models import ImportBatch, Role
from projects.selectors import import_batch_get, import_batch_list
from projects.services.imports import import_batch_create

RECENT_BATCHES = 10


def _recent_context(request) -> dict:
    recent = list(import_batch_list(project=request.project)[:RECENT_BATCHES])
    return {
        "project": request.project,
        "recent_batches": recent,
        "recent_running": any(not batch.is_finished for batch in recent),
    }


def _page_context(request, *, form, batch=None) -> dict:
    return {
        **_recent_context(request),
        "form": form,
        "batch": batch,
        "max_file_bytes": settings.CONCORD_IMPORT_MAX_FILE_BYTES,
    }


@require_http_methods(["GET", "POST"])
@project_role_required(Role.MANAGER)
def import_upload(request, slug):
    if request.method == "GET":
        return render(request, "projects/import.html", _page_context(request, form=ImportUploadForm()))
    form = ImportUploadForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        kind = form.cleaned_data["kind"]
        options = {}
        if kind == ImportBatch.Kind.ANNOTATIONS:
            options["from_name"] = form.cleaned_data["from_name"]
        if kind == ImportBatch.Kind.PREDICTIONS:
            options = {
                "model": form.cleaned_data["model"],
                "version": form.cleaned_data["model_version"],
                "replace": form.cleaned_data["replace"],
            }
        try:
            batch = import_batch_create(
                project=request.project,
                user=request.user,
                uploaded_file_or_path=upload,
                source_name=upload.name,
                file_format=form.cleaned_data["file_format"] or None,
                kind=kind,
                options=options,
            )
        except ValidationError as exc:
            form.add_error("file", exc.messages)
        else:
            if wants_partial(request):
                return render(
                    request, "projects/_import_status.html", {"project": request.project, "batch": batch}
                )
            return redirect("projects:import_status", slug=request.project.slug, batch_id=batch.id)
    return render(request, "projects/import.html", _page_context(request, form=form), status=400)


@require_http_methods(["GET"])
@project_role_required(Role.MANAGER)
def import_status(request, slug, batch_id):
    try:
        batch = import_batch_get(project=request.project, batch_id=batch_id)
    except NotFound:
        raise Http404("Import not found.") from None
    return render_page_or_partial(
        request,
        page="projects/import.html",
        partial="projects/_import_status.html",
        context=_page_context(request, form=ImportUploadForm(), batch=batch),
    )


@require_GET
@project_role_required(Role.MANAGER)
def import_recent(request, slug):
    """The recent jobs table alone (htmx polls it while a job in it is unfinished)."""
    return render_page_or_partial(
        request,
        page="projects/import.html",
        partial="projects/_import_recent.html",
        context=_page_context(request, form=ImportUploadForm()),
    )


@require_POST
@project_role_required(Role.MANAGER)
def import_retry(request, slug, batch_id):
    """Run again a job that failed because its worker stopped; any other failure says what to do."""
    try:
        batch = import_batch_get(project=request.project, batch_id=batch_id)
    except NotFound:
        raise Http404("Import not found.") from None
    try:
        job_retry(job=batch, user=request.user)
    except Conflict as exc:
        messages.error(request, exc.message)
    return redirect("projects:import_status", slug=request.project.slug, batch_id=batch.id)
