"""The example browser and its CSV export (managers, SMEs), the example page (every member, each
seeing what their role allows) and its tags."""

import csv
import io
import json
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe

from consistency.examples.browser import (
    COUNT_CAP,
    SORTS,
    STATUSES,
    browser_filters_clean,
    browser_page,
    example_status,
    examples_browse,
    examples_matching,
    final_answer,
    label_names,
)
from consistency.examples.selectors import example_get_for_member
from consistency.examples.timeline import example_timeline
from consistency.releases.policy import csv_cell
from core.errors import ApplicationError, NotFound
from projects.access import project_role_required
from projects.models import Role
from projects.services.tags import example_tag_add, example_tag_remove


@require_safe
@project_role_required()
def example_page(request, slug, example_id):
    try:
        example = example_get_for_member(membership=request.membership, example_id=example_id)
    except NotFound:
        raise Http404("Example not found.") from None
    is_labeler = request.membership.role == Role.LABELER
    timeline = example_timeline(
        project=request.project, example=example, viewer_rater=request.user if is_labeler else None
    )
    context = {
        "project": request.project,
        "example": example,
        "timeline": timeline,
        "is_labeler": is_labeler,
        "tags": [] if is_labeler else list(example.tags.values_list("name", flat=True)),
    }
    return render(request, "consistency/example.html", context)


@require_POST
@project_role_required(Role.MANAGER, Role.SME)
def example_tags(request, slug, example_id):
    try:
        if request.POST.get("remove"):
            example_tag_remove(project=request.project, example_id=example_id, name=request.POST["remove"])
        else:
            example_tag_add(
                project=request.project,
                user=request.user,
                example_id=example_id,
                name=request.POST.get("tag", ""),
            )
    except NotFound:
        raise Http404("Example not found.") from None
    except ApplicationError as exc:
        messages.error(request, exc.message)
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=False
    ):
        return redirect(back)  # tagged from the review page: back to the case on screen
    return redirect("consistency:example", slug=slug, example_id=example_id)


def _browser_context(request):
    project = request.project
    filters = browser_filters_clean(project=project, params=request.GET)
    return filters, examples_browse(project=project, filters=filters)


@require_safe
@project_role_required(Role.MANAGER, Role.SME)
def example_browser(request, slug):
    filters, rows = _browser_context(request)
    matching = examples_matching(project=request.project, filters=filters)
    page = browser_page(rows=rows, matching=matching, raw_page=request.GET.get("page"))
    query = urlencode(filters.query_items())
    names = label_names(project=request.project)
    context = {
        "project": request.project,
        "filters": filters,
        "page": page,
        "rows": [(example, example_status(example), final_answer(example, names)) for example in page.rows],
        "statuses": STATUSES.items(),
        "sorts": SORTS,
        "labels": request.project.labels.all(),
        "query": query,
        "count_text": (
            f"More than {COUNT_CAP:,} examples"
            if page.count_capped
            else f"{page.count:,} example{'' if page.count == 1 else 's'}"
        ),
    }
    return render(request, "consistency/examples.html", context, status=400 if filters.errors else 200)


EXPORT_COLUMNS = ("external_id", "text", "status", "label", "label_source", "agreement", "labels", "metadata")


def _export_lines(rows, project):
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        value = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
        return value

    writer.writerow(EXPORT_COLUMNS)
    yield flush()
    names = label_names(project=project)
    for example in rows.iterator(chunk_size=2000):
        consensus = getattr(example, "consensus", None)
        writer.writerow(
            [
                csv_cell(example.external_id),
                csv_cell(example.text),
                example_status(example),
                csv_cell(final_answer(example, names)),
                consensus.source if consensus is not None else "",
                "" if consensus is None or consensus.agreement is None else f"{consensus.agreement:.4f}",
                example.annotation_count,
                csv_cell(json.dumps(example.metadata, ensure_ascii=False, sort_keys=True)),
            ]
        )
        yield flush()


@require_safe
@project_role_required(Role.MANAGER, Role.SME)
def example_export(request, slug):
    """The filtered list as CSV, streamed row by row from a server-side cursor (never the whole list
    in memory); cells that a spreadsheet would run as a formula are escaped."""
    filters, rows = _browser_context(request)
    if filters.errors:
        return HttpResponseBadRequest(
            " ".join(filters.errors.values()), content_type="text/plain; charset=utf-8"
        )
    response = StreamingHttpResponse(
        _export_lines(rows, request.project), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{request.project.slug}-examples.csv"'
    return response
