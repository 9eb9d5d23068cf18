"""The labeler's pages (label, my work) and the manager's progress page. Thin: parse, call one
service or selector, render the page or, for htmx, the work-area partial."""

import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import ApplicationError, Conflict, NotFound
from core.htmx import render_page_or_partial, wants_partial
from labeling import selectors
from labeling.forms import (
    AnnotationEditForm,
    AnnotationSetSubmitForm,
    AnnotationSpansSubmitForm,
    AnnotationSubmitForm,
    AssignmentSkipForm,
    first_error,
    spans_error_by_line,
    spans_lines,
)
from labeling.services import annotations as services
from labeling.spans import text_pieces
from projects.access import project_role_required
from projects.models import Role, TaskType

WORK_PAGE = "labeling/label.html"
WORK_PARTIAL = "labeling/_work_area.html"
QUEUE_ITEMS = "labeling/_lease_items.html"
BACKGROUND_HEADER = "X-Concord-Background"
# Multi-label: the key that answers "none of these" (where allowed); no label can have it, since
# label keys are letters and digits (projects.models.Label's label_key_valid). Spans: the key that
# answers "no entities".
NONE_OF_THESE_KEY = "."
SUBMIT_FORMS = {
    TaskType.SINGLE: AnnotationSubmitForm,
    TaskType.MULTI: AnnotationSetSubmitForm,
    TaskType.SPANS: AnnotationSpansSubmitForm,
}


def _lease_item(project, assignment) -> dict:
    """One held example as the page shows it: text, visible metadata, and a fresh client token;
    on a span project also its text cut into tokens and the whitespace between them
    (labeling.spans.text_pieces), which the page selects by."""
    example = assignment.example
    metadata = []
    if isinstance(example.metadata, dict):
        metadata = [
            (field, example.metadata[field])
            for field in project.visible_metadata or []
            if field in example.metadata
        ]
    pieces = text_pieces(example.text) if project.task_type == TaskType.SPANS else None
    return {"example": example, "metadata": metadata, "client_token": uuid.uuid4(), "pieces": pieces}


def _work_context(request, *, notice: str = "", notice_level: str = "success") -> dict:
    project, user = request.project, request.user
    try:
        queue = services.lease_queue(project=project, user=user, membership=request.membership)
    except ApplicationError as exc:
        queue, notice, notice_level = [], exc.message, "error"
    items = [_lease_item(project, assignment) for assignment in queue]
    current = items[0] if items else None
    undoable = selectors.annotation_last_undoable(project=project, user=user)
    return {
        "project": project,
        "assignment": queue[0] if queue else None,
        "example": current["example"] if current else None,
        "metadata": current["metadata"] if current else [],
        "client_token": current["client_token"] if current else None,
        "current": current,
        "queued": items[1:],
        "labels": selectors.labels_for_labeling(project=project),
        "progress": selectors.labeler_progress(project=project, user=user, nothing_left=not queue),
        "undoable": undoable,
        "undo_text": selectors.annotation_answer_text(project=project, annotation=undoable)
        if undoable
        else "",
        "multi": project.task_type == TaskType.MULTI,
        "spans": project.task_type == TaskType.SPANS,
        "none_of_these_key": NONE_OF_THESE_KEY,
        "notice": notice,
        "notice_level": notice_level,
    }


def _after_action(request, slug: str, notice: str, level: str):
    """htmx: the next example's work area, in place. Without JavaScript: POST, then redirect."""
    if wants_partial(request):
        return render(request, WORK_PARTIAL, _work_context(request, notice=notice, notice_level=level))
    getattr(messages, level)(request, notice)
    return redirect("labeling:label", slug=slug)


def _is_background(request) -> bool:
    """A submit the page's script sent in the background, while the labeler already sees the next
    example: it is answered with the examples held for them, not with a page."""
    return request.headers.get(BACKGROUND_HEADER) == "1"


def _background_answer(request, annotation) -> JsonResponse:
    """The leases the labeler holds now (topped up), as the page's queue items, and what Undo
    would take back. The script adds the items it has not seen yet to its queue."""
    project = request.project
    try:
        queue = services.lease_queue(project=project, user=request.user, membership=request.membership)
    except ApplicationError:
        queue = []  # the label is saved; the script asks again when its queue runs dry
    # Without the request: the items need none of the context processors (user, messages,
    # notices), which every background submit would otherwise run.
    html = render_to_string(
        QUEUE_ITEMS, {"project": project, "items": [_lease_item(project, assignment) for assignment in queue]}
    )
    undoable = (
        selectors.annotation_answer_text(project=project, annotation=annotation)
        if not annotation.decided_by_sme
        else None
    )
    return JsonResponse(
        {"saved": annotation.pk, "replay": annotation.replay, "items": html, "undo": undoable}
    )


@require_GET
@project_role_required(Role.LABELER)
def label_page(request, slug):
    context = _work_context(request)
    if not wants_partial(request):
        context["guideline"] = selectors.guideline_stamp(project=request.project)
        dismissed = request.session.get(selectors.BANNER_SESSION_KEY, {}).get(str(request.project.pk))
        context["banner"] = selectors.guideline_banner_version(
            project=request.project, user=request.user, dismissed_number=dismissed
        )
    return render_page_or_partial(request, page=WORK_PAGE, partial=WORK_PARTIAL, context=context)


@require_POST
@project_role_required(Role.LABELER)
def annotation_submit(request, slug, example_id):
    task_type = request.project.task_type
    form = SUBMIT_FORMS.get(task_type, AnnotationSubmitForm)(request.POST)
    background = _is_background(request)
    if not form.is_valid():
        if background:
            return JsonResponse({"error": first_error(form)}, status=400)
        return _after_action(request, slug, first_error(form), "error")
    data = form.cleaned_data
    spans = task_type == TaskType.SPANS
    try:
        annotation = services.annotation_submit(
            project=request.project,
            user=request.user,
            example_id=example_id,
            label_id=data["label"] if task_type == TaskType.SINGLE else None,
            labels=data["labels"] if task_type == TaskType.MULTI else None,
            spans=form.span_list() if spans else None,
            client_token=data["client_token"],
            ambiguous=data["ambiguous"],
            ambiguous_note=data["ambiguous_note"],
            note=data["note"],
            time_spent_ms=data["time_spent_ms"],
        )
    except NotFound:
        if background:
            return JsonResponse({"error": "This example is not assigned to you."}, status=404)
        raise Http404("Example not found.") from None
    except ApplicationError as exc:
        message = spans_error_by_line(exc, form.span_lines()) if spans else exc.message
        if background:
            return JsonResponse({"error": message}, status=409 if isinstance(exc, Conflict) else 400)
        return _after_action(request, slug, message, "error")
    if background:
        return _background_answer(request, annotation)
    return _after_action(request, slug, "Saved.", "success")


@require_POST
@project_role_required(Role.LABELER)
def assignment_skip(request, slug, example_id):
    form = AssignmentSkipForm(request.POST)
    if not form.is_valid():
        return _after_action(request, slug, first_error(form), "error")
    try:
        services.assignment_skip(
            project=request.project,
            user=request.user,
            example_id=example_id,
            reason=form.cleaned_data["reason"],
        )
    except NotFound:
        raise Http404("Example not found.") from None
    except ApplicationError as exc:
        return _after_action(request, slug, exc.message, "error")
    return _after_action(request, slug, "Skipped. You will not see that example again.", "success")


@require_POST
@project_role_required(Role.LABELER)
def annotation_undo(request, slug):
    try:
        services.annotation_undo(project=request.project, user=request.user)
    except NotFound:
        raise Http404("Example not found.") from None
    except ApplicationError as exc:
        return _after_action(request, slug, exc.message, "error")
    return _after_action(request, slug, "Your last label was undone. Label the example again.", "success")


@require_GET
@project_role_required(Role.LABELER)
def my_work(request, slug):
    annotations = selectors.annotation_list_for_rater(project=request.project, user=request.user)
    page = Paginator(annotations, 25).get_page(request.GET.get("page"))
    annotations = list(page.object_list)
    editable = selectors.annotations_editable(annotations)
    rows = [(annotation, annotation.pk in editable) for annotation in annotations]
    return render(request, "labeling/my_work.html", {"project": request.project, "page": page, "rows": rows})


@require_http_methods(["GET", "POST"])
@project_role_required(Role.LABELER)
def annotation_edit(request, slug, annotation_id):
    project = request.project
    try:
        annotation = selectors.annotation_get_for_rater(
            project=project, user=request.user, annotation_id=annotation_id
        )
    except NotFound:
        raise Http404("Annotation not found.") from None
    editable = selectors.annotation_is_editable(annotation)
    names = {label.pk: label.name for label in selectors.labels_for_labeling(project=project)}
    initial = {
        "label": annotation.label_id,
        "labels": annotation.labels or [],
        "spans": spans_lines(annotation.spans, names),
        "no_entities": annotation.spans == [],
        "ambiguous": annotation.ambiguous,
        "ambiguous_note": annotation.ambiguous_note,
        "note": annotation.note,
    }
    form = AnnotationEditForm(request.POST or None, initial=initial, project=project)
    if request.method == "POST" and form.is_valid():
        spans = form.cleaned_data.get("spans") if "spans" in form.fields else None
        try:
            services.annotation_update(
                project=project,
                user=request.user,
                annotation_id=annotation.pk,
                label_id=form.cleaned_data.get("label"),
                labels=form.cleaned_data.get("labels") if "labels" in form.fields else None,
                spans=[span for _, span in spans] if spans is not None else None,
                ambiguous=form.cleaned_data["ambiguous"],
                ambiguous_note=form.cleaned_data["ambiguous_note"],
                note=form.cleaned_data["note"],
            )
        except NotFound:
            raise Http404("Annotation not found.") from None
        except ApplicationError as exc:
            if spans is not None and any(field.startswith("spans") for field in exc.extra):
                form.add_error("spans", spans_error_by_line(exc, [number for number, _ in spans]))
            else:
                form.add_error(None, exc.message)
        else:
            messages.success(request, "Your label was updated.")
            return redirect("labeling:my_work", slug=slug)
    return render(
        request,
        "labeling/annotation_edit.html",
        {
            "project": project,
            "annotation": annotation,
            "form": form,
            "editable": editable,
            "pieces": text_pieces(annotation.example.text) if project.task_type == TaskType.SPANS else None,
        },
    )


@require_GET
@project_role_required(Role.MANAGER)
def progress(request, slug):
    data = selectors.project_progress(project=request.project)
    chart = {
        "distribution": data["distribution"],
        "labelers": [{"username": row["username"], "done": row["done"]} for row in data["labelers"]],
    }
    return render(
        request, "labeling/progress.html", {"project": request.project, "data": data, "chart": chart}
    )


@require_POST
@project_role_required()
def guideline_banner_dismiss(request, slug, number):
    """Hide the "new guideline version" banner up to version `number` (kept in the session)."""
    dismissed = request.session.get(selectors.BANNER_SESSION_KEY, {})
    dismissed[str(request.project.pk)] = int(number)
    request.session[selectors.BANNER_SESSION_KEY] = dismissed
    return redirect("labeling:label", slug=slug)
