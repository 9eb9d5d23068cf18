"""The SME review pages under /projects/<slug>/review/: the queue (htmx-filtered), one item with
its resolve form (keyboard via static/review.js, plain forms without it), revisions and worked
examples. Only SMEs and managers get here; labelers get 403, other projects' users 404."""

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.http import Http404, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApplicationError, NotFound
from core.htmx import render_page_or_partial
from projects.access import project_role_required
from projects.models import Role

from . import review_selectors as selectors
from . import review_services as services
from .agreement import metadata_fields
from .models import Resolution

REVIEWERS = (Role.SME, Role.MANAGER)
EXCLUDE_KEY = "x"


class ResolveForm(forms.Form):
    label = forms.IntegerField(required=False)
    verdict = forms.ChoiceField(choices=Resolution.Verdict.choices, required=False)
    rationale = forms.CharField(required=False, max_length=services.MAX_RATIONALE_CHARS, strip=True)
    guideline_gap = forms.BooleanField(required=False)
    filters = forms.CharField(required=False, max_length=2000)

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("verdict"):
            cleaned["verdict"] = Resolution.Verdict.GOLD if cleaned.get("label") else ""
        if not cleaned["verdict"]:
            raise forms.ValidationError("Choose a label, or rule the case genuinely ambiguous.")
        return cleaned


class WorkedExampleForm(forms.Form):
    explanation = forms.CharField(required=False, max_length=1000)


def _filters_from(request, raw: str | None = None) -> selectors.QueueFilters:
    params = QueryDict(raw or "") if raw is not None else request.GET
    return selectors.queue_filters_clean(project=request.project, params=params)


def _filters_query(filters: selectors.QueueFilters) -> str:
    params = {}
    if filters.label_pair:
        params["pair"] = f"{filters.label_pair[0]}-{filters.label_pair[1]}"
    if filters.field:
        params.update(field=filters.field, value=filters.value)
    if filters.version is not None:
        params["version"] = filters.version
    if filters.older_than_days:
        params["age"] = filters.older_than_days
    return urlencode(params)


def _labels_with_keys(project):
    labels = list(project.labels.all())
    exclude_key = EXCLUDE_KEY if all(label.shortcut_key != EXCLUDE_KEY for label in labels) else ""
    return labels, exclude_key


@require_GET
@project_role_required(*REVIEWERS)
def review_queue(request, slug):
    project = request.project
    filters = _filters_from(request)
    labels = list(project.labels.all())
    names = {label.pk: label.name for label in labels}
    pairs = [
        {"value": f"{a}-{b}", "name": f"{names.get(a, '?')} / {names.get(b, '?')}", "count": n}
        for (a, b), n in selectors.label_pair_counts(project=project).most_common()
        if a is not None and b is not None
    ]
    context = {
        "project": project,
        "items": selectors.review_queue(project=project, filters=filters),
        "open_count": selectors.review_queue_count(project=project),
        "filters": filters,
        "filters_query": _filters_query(filters),
        "pairs": pairs,
        "fields": metadata_fields(project=project),
        "versions": list(project.guideline_versions.values_list("number", flat=True)),
        "ages": list(selectors.AGE_CHOICES),
        "pair_value": f"{filters.label_pair[0]}-{filters.label_pair[1]}" if filters.label_pair else "",
    }
    return render_page_or_partial(
        request,
        page="consistency/review_queue.html",
        partial="consistency/review_queue_items.html",
        context=context,
    )


def _item_context(
    request,
    disagreement,
    *,
    filters,
    notice="",
    notice_level="success",
    form_errors=None,
    last_resolution=None,
):
    project = request.project
    labels, exclude_key = _labels_with_keys(project)
    return {
        "project": project,
        **selectors.review_item(project=project, disagreement=disagreement),
        "labels": labels,
        "exclude_key": exclude_key,
        "filters_query": _filters_query(filters),
        "notice": notice,
        "notice_level": notice_level,
        "form_errors": form_errors or [],
        "last_resolution": last_resolution,
    }


def _render_item(request, disagreement, *, filters, status=200, **extra):
    return render_page_or_partial(
        request,
        page="consistency/review_item.html",
        partial="consistency/review_item_panel.html",
        context=_item_context(request, disagreement, filters=filters, **extra),
        status=status,
    )


def _render_empty(request, *, filters, notice, last_resolution=None):
    context = {
        "project": request.project,
        "notice": notice,
        "notice_level": "success",
        "filters_query": _filters_query(filters),
        "last_resolution": last_resolution,
    }
    return render_page_or_partial(
        request,
        page="consistency/review_item.html",
        partial="consistency/review_item_panel.html",
        context={**context, "disagreement": None},
    )


@require_GET
@project_role_required(*REVIEWERS)
def review_item(request, slug, disagreement_id):
    try:
        disagreement = selectors.disagreement_get(project=request.project, disagreement_id=disagreement_id)
    except NotFound:
        raise Http404("No such disagreement.") from None
    return _render_item(request, disagreement, filters=_filters_from(request))


def _get_or_404(request, disagreement_id):
    try:
        return selectors.disagreement_get(project=request.project, disagreement_id=disagreement_id)
    except NotFound:
        raise Http404("No such disagreement.") from None


@require_POST
@project_role_required(*REVIEWERS)
def review_resolve(request, slug, disagreement_id):
    disagreement = _get_or_404(request, disagreement_id)
    form = ResolveForm(request.POST)
    filters = _filters_from(request, request.POST.get("filters", ""))
    if not form.is_valid():
        errors = [e for errs in form.errors.values() for e in errs]
        return _render_item(request, disagreement, filters=filters, status=400, form_errors=errors)
    data = form.cleaned_data
    try:
        resolution = services.review_resolve(
            project=request.project,
            user=request.user,
            disagreement_id=disagreement.pk,
            verdict=data["verdict"],
            label_id=data["label"],
            rationale=data["rationale"],
            guideline_gap=data["guideline_gap"],
        )
    except ApplicationError as exc:
        disagreement.refresh_from_db()
        return _render_item(
            request, disagreement, filters=filters, status=409, notice=exc.message, notice_level="error"
        )
    notice = "Resolved. Here is the next case."
    following = selectors.review_next(project=request.project, filters=filters, after_id=disagreement.pk)
    if not request.htmx:
        messages.success(request, notice if following else "Resolved. The queue is empty.")
        if following is None:
            return redirect(reverse("consistency:review_queue", args=[slug]))
        query = _filters_query(filters)
        url = reverse("consistency:review_item", args=[slug, following.pk])
        return redirect(f"{url}?{query}" if query else url)
    if following is None:
        return _render_empty(
            request, filters=filters, notice="Resolved. The queue is empty.", last_resolution=resolution
        )
    response = _render_item(request, following, filters=filters, notice=notice, last_resolution=resolution)
    response["HX-Push-Url"] = reverse("consistency:review_item", args=[slug, following.pk])
    return response


def _resolution_or_404(request, resolution_id):
    resolution = request.project.resolutions.select_related("disagreement").filter(pk=resolution_id).first()
    if resolution is None:
        raise Http404("No such resolution.")
    return resolution


@require_POST
@project_role_required(*REVIEWERS)
def resolution_revise(request, slug, resolution_id):
    resolution = _resolution_or_404(request, resolution_id)
    form = ResolveForm(request.POST)
    filters = _filters_from(request, request.POST.get("filters", ""))
    if not form.is_valid():
        errors = [e for errs in form.errors.values() for e in errs]
        return _render_item(request, resolution.disagreement, filters=filters, status=400, form_errors=errors)
    data = form.cleaned_data
    try:
        services.resolution_revise(
            project=request.project,
            user=request.user,
            resolution_id=resolution.pk,
            verdict=data["verdict"],
            label_id=data["label"],
            rationale=data["rationale"],
            guideline_gap=data["guideline_gap"],
        )
    except ApplicationError as exc:
        return _render_item(
            request,
            resolution.disagreement,
            filters=filters,
            status=409,
            notice=exc.message,
            notice_level="error",
        )
    if not request.htmx:
        messages.success(request, "Resolution revised; the previous one is kept in the history.")
        return redirect("consistency:review_item", slug=slug, disagreement_id=resolution.disagreement_id)
    return _render_item(request, resolution.disagreement, filters=filters, notice="Resolution revised.")


@require_POST
@project_role_required(*REVIEWERS)
def worked_example_add(request, slug, resolution_id):
    resolution = _resolution_or_404(request, resolution_id)
    form = WorkedExampleForm(request.POST)
    filters = _filters_from(request, request.POST.get("filters", ""))
    explanation = form.cleaned_data["explanation"] if form.is_valid() else ""
    try:
        services.worked_example_add(
            project=request.project, user=request.user, resolution_id=resolution.pk, explanation=explanation
        )
    except ApplicationError as exc:
        notice, level = exc.message, "error"
    else:
        notice, level = "Added to the guideline draft under \u201cWorked examples\u201d.", "success"
    if not request.htmx:
        getattr(messages, level)(request, notice)
        return redirect("consistency:review_item", slug=slug, disagreement_id=resolution.disagreement_id)
    return _render_item(request, resolution.disagreement, filters=filters, notice=notice, notice_level=level)


class RelabelForm(forms.Form):
    scope = forms.ChoiceField(choices=[(s, s) for s in services.RELABEL_SCOPES])
    n = forms.IntegerField(required=False, min_value=1, max_value=100_000)


@require_POST
@project_role_required(Role.MANAGER)
def relabel_request(request, slug):
    """Managers send examples back for relabeling under the guideline in force."""
    form = RelabelForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose which examples to send back (and how many, for a sample).")
    else:
        try:
            count = services.relabel_request(
                project=request.project,
                user=request.user,
                scope=form.cleaned_data["scope"],
                n=form.cleaned_data["n"],
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{count} example{'s' if count != 1 else ''} sent back for relabeling.")
    return redirect("consistency:agreement_dashboard", slug=slug)
