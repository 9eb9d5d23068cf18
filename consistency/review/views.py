"""The SME review pages under /projects/<slug>/review/: the queue (htmx-filtered), one item with
its resolve form (keyboard via static/review.js, plain forms without it), revisions and worked
examples. Only SMEs and managers get here; labelers get 403, other projects' users 404."""

import re
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from consistency.review import questions, selectors, services, span_layout
from consistency.review.models import Resolution
from core.errors import ApplicationError, NotFound
from core.htmx import render_page_or_partial, wants_partial
from core.pagination import page_get
from labeling.forms import LabelIdsField
from projects.access import project_role_required
from projects.models import Role, TaskType
from projects.selectors import example_tag_names, metadata_fields, predictions_for_example, tag_vocabulary

REVIEWERS = (Role.SME, Role.MANAGER)
EXCLUDE_KEY = "x"
EXCLUSION_HINT = (
    "To keep a case out of the dataset, write why it is genuinely ambiguous in the rationale "
    "first (N), then choose \u201cGenuinely ambiguous\u201d again."
)
STALE_PAGE_MESSAGE = (
    "Nothing was saved: that form belonged to a different case than the one on screen. "
    "Here is the case it named; decide it again if you meant to."
)


class SpanKeysField(forms.Field):
    """The checked candidate spans, each as "start:end:label_id"."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[tuple[int, int, int]]:
        spans = [span_layout.span_from_key(str(item)) for item in value or ()]
        if None in spans:
            raise forms.ValidationError("The checked spans were not understood; reload the page.")
        return spans


class ResolveForm(forms.Form):
    label = forms.IntegerField(required=False)
    # Multi-label projects: the checked labels, or the explicit "none of these" button.
    labels = LabelIdsField(required=False)
    none_of_these = forms.BooleanField(required=False)
    # Span projects: the checked candidates plus typed lines, or the explicit "no entities" button.
    span = SpanKeysField(required=False)
    extra_spans = forms.CharField(required=False, max_length=20_000, strip=False)
    no_entities = forms.BooleanField(required=False)
    verdict = forms.ChoiceField(choices=Resolution.Verdict.choices, required=False)
    rationale = forms.CharField(required=False, max_length=services.MAX_RATIONALE_CHARS, strip=True)
    guideline_gap = forms.BooleanField(required=False)
    filters = forms.CharField(required=False, max_length=2000)
    # The second step of an exclusion: "yes" saves it, "no" goes back to the form.
    confirm = forms.ChoiceField(choices=[("", ""), ("yes", "yes"), ("no", "no")], required=False)

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("verdict"):
            chosen = (
                cleaned.get("label")
                or cleaned.get("labels")
                or cleaned.get("none_of_these")
                or cleaned.get("span")
                or (cleaned.get("extra_spans") or "").strip()
                or cleaned.get("no_entities")
            )
            cleaned["verdict"] = Resolution.Verdict.GOLD if chosen else ""
        if not cleaned["verdict"]:
            raise forms.ValidationError("Choose a label, or rule the case genuinely ambiguous.")
        # The service enforces this too; checked here so the confirmation step never asks about
        # an exclusion that would be refused.
        if cleaned["verdict"] == Resolution.Verdict.EXCLUDED and not cleaned.get("rationale"):
            raise forms.ValidationError(EXCLUSION_HINT)
        return cleaned


def _gold_set(project, data) -> list[int] | None:
    """A multi-label decision's set as the service takes it: [] only for the explicit "none of
    these" (never from nothing checked, which the service refuses by name); None elsewhere."""
    if project.task_type != TaskType.MULTI:
        return None
    if data.get("none_of_these"):
        return []
    return data.get("labels") or None


NOTHING_MARKED = (
    "Nothing is marked: check the spans that are entities (or type them), or choose \u201cNo entities\u201d."
)


def _gold_spans(project, data) -> tuple[list[dict] | None, list[str], list[str]]:
    """A span decision as the service takes it, with what names each span in an error message:
    (spans, their names, errors). [] only for the explicit "no entities"; the checked candidates
    and the typed lines together otherwise, a span given by both taken once."""
    if project.task_type != TaskType.SPANS or data["verdict"] != Resolution.Verdict.GOLD:
        return None, [], []
    if data.get("no_entities"):
        return [], [], []
    typed, errors = span_layout.typed_spans_parse(data.get("extra_spans") or "")
    if errors:
        return None, [], errors
    names = dict(project.labels.values_list("pk", "name"))
    label_ids = {**{str(pk): pk for pk in names}, **{name: pk for pk, name in names.items()}}  # as labeling
    spans, sources, seen = [], [], set()
    for start, end, label in data.get("span") or ():
        seen.add((start, end, label))
        spans.append({"start": start, "end": end, "label": str(label)})
        sources.append(f"the checked span {start}\u2013{end} {names.get(label, '?')}")
    for line in typed:
        key = (line.start, line.end, label_ids.get(line.label))
        if key in seen:
            continue
        seen.add(key)
        spans.append({"start": line.start, "end": line.end, "label": line.label})
        sources.append(f"extra spans line {line.line}")
    if not spans:
        return None, [], [NOTHING_MARKED]
    return spans, sources, []


SPAN_FIELD = re.compile(r"spans\[(\d+)\](?:\.(start|end|label))?")


def _span_error(message: str, sources: list[str]) -> str:
    """A service's span error with each `spans[i]` named as the SME entered it."""

    def name(match) -> str:
        index = int(match[1])
        where = sources[index] if index < len(sources) else match[0]
        return f"{where}, {match[2]}" if match[2] else where

    named = SPAN_FIELD.sub(name, message)
    return named[:1].upper() + named[1:]


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
    tab = request.GET.get("tab") or "open"
    if tab in DECIDED_TABS:
        return _decided_tab(request, tab)
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
        "tab": "open",
        "tabs": QUEUE_TABS,
    }
    return render_page_or_partial(
        request,
        page="consistency/review_queue.html",
        partial="consistency/review_queue_items.html",
        context=context,
    )


QUEUE_TABS = {"open": "Open", "resolved": "Resolved", "excluded": "Excluded"}
DECIDED_TABS = {"resolved": Resolution.Verdict.GOLD, "excluded": Resolution.Verdict.EXCLUDED}


def _decided_tab(request, tab):
    """The resolved (gold) or excluded cases, newest decision first, 50 a page."""
    rows = selectors.review_decided(project=request.project, verdict=DECIDED_TABS[tab])
    page, page_message = page_get(Paginator(rows, 50), request.GET.get("page"))
    context = {
        "project": request.project,
        "tab": tab,
        "tabs": QUEUE_TABS,
        "decided": page,
        "page_message": page_message,
        "open_count": selectors.review_queue_count(project=request.project),
    }
    return render(request, "consistency/review_queue.html", context)


def _item_url(project, disagreement_id: int, filters: selectors.QueueFilters) -> str:
    url = reverse("consistency:review_item", args=[project.slug, disagreement_id])
    query = _filters_query(filters)
    return f"{url}?{query}" if query else url


def _item_context(
    request,
    disagreement,
    *,
    filters,
    notice="",
    notice_level="success",
    form_errors=None,
    last_resolution=None,
    entered=None,
    confirm_exclusion=False,
):
    project = request.project
    labels, exclude_key = _labels_with_keys(project)
    item = selectors.review_item(
        project=project, disagreement=disagreement, span_start=request.GET.get("start", "")[:20]
    )
    if item["spans"] is not None and (entered or {}).get("span_keys") is not None:
        for candidate in item["spans"]["candidates"]:  # as the SME left them
            candidate["checked"] = candidate["key"] in entered["span_keys"]
    return {
        "project": project,
        **item,
        "labels": labels,
        "exclude_key": exclude_key,
        "filters_query": _filters_query(filters),
        "notice": notice,
        "notice_level": notice_level,
        "form_errors": form_errors or [],
        "last_resolution": last_resolution,
        # What the SME typed, kept when the page comes back to them (an error, "go back").
        "entered": entered or {},
        "confirm_exclusion": confirm_exclusion,
        # Models' predictions, marked as a model's: SMEs weigh them, labelers never see them.
        "predictions": predictions_for_example(project=project, example_id=disagreement.example_id),
        "tags": example_tag_names(project=project, example_id=disagreement.example_id),
        "tag_vocabulary": tag_vocabulary(project=project),
    }


def _render_item(request, disagreement, *, filters, status=200, url_change="", **extra):
    """The review panel for `disagreement`. For htmx, `url_change` ("push" or "replace") makes
    the address bar name the case shown, so the URL, the panel and the keys always agree."""
    response = render_page_or_partial(
        request,
        page="consistency/review_item.html",
        partial="consistency/review_item_panel.html",
        context=_item_context(request, disagreement, filters=filters, **extra),
        status=status,
    )
    if wants_partial(request) and url_change:
        header = "HX-Push-Url" if url_change == "push" else "HX-Replace-Url"
        response[header] = _item_url(request.project, disagreement.pk, filters)
    return response


def _render_empty(request, *, filters, notice, notice_level="success", last_resolution=None):
    context = {
        "project": request.project,
        "notice": notice,
        "notice_level": notice_level,
        "filters_query": _filters_query(filters),
        "last_resolution": last_resolution,
        "disagreement": None,
    }
    response = render_page_or_partial(
        request,
        page="consistency/review_item.html",
        partial="consistency/review_item_panel.html",
        context=context,
    )
    if wants_partial(request):
        # No case on screen: the address names the (empty) queue, not the case just decided.
        queue = reverse("consistency:review_queue", args=[request.project.slug])
        query = _filters_query(filters)
        response["HX-Push-Url"] = f"{queue}?{query}" if query else queue
    return response


@require_GET
@project_role_required(*REVIEWERS)
def review_item(request, slug, disagreement_id):
    disagreement = _get_or_404(request, disagreement_id)
    return _render_item(request, disagreement, filters=_filters_from(request))


def _get_or_404(request, disagreement_id):
    try:
        return selectors.disagreement_get(project=request.project, disagreement_id=disagreement_id)
    except NotFound:
        raise Http404("No such disagreement.") from None


def _shown_matches(request, disagreement) -> bool:
    """Whether the form was posted from the page showing `disagreement` (its `shown` field).

    Every decision form carries the id of the case on screen; a form whose target is another
    case (a stale panel, an old tab, a crafted post) must not change that case's decision."""
    return request.POST.get("shown", "") == str(disagreement.pk)


def _refuse_mismatch(request, disagreement, filters):
    return _render_item(
        request,
        disagreement,
        filters=filters,
        status=409,
        notice=STALE_PAGE_MESSAGE,
        notice_level="error",
        url_change="replace",
    )


def _entered(request) -> dict:
    """What the SME typed and checked, to show again when the page comes back to them."""
    return {
        "rationale": request.POST.get("rationale", ""),
        "gap": bool(request.POST.get("guideline_gap")),
        "span_keys": set(request.POST.getlist("span")),
        "extra_spans": request.POST.get("extra_spans", ""),
    }


def _decision_step(request, disagreement, form, filters):
    """The response before anything is saved, or None to go ahead: form errors, and the
    confirmation step an exclusion needs (works without JavaScript: it is a second form)."""
    if not form.is_valid():
        errors = [e for errs in form.errors.values() for e in errs]
        return _refuse_input(request, disagreement, filters, errors)
    data = form.cleaned_data
    if data["verdict"] != Resolution.Verdict.EXCLUDED or data["confirm"] == "yes":
        return None
    entered = {"rationale": data["rationale"], "gap": data["guideline_gap"]}
    return _render_item(
        request, disagreement, filters=filters, entered=entered, confirm_exclusion=data["confirm"] != "no"
    )


def _is_span_error(exc: ApplicationError) -> bool:
    return any(str(field).startswith("spans") for field in exc.extra)


def _refuse_input(request, disagreement, filters, errors):
    """The page again with the errors and everything the SME entered; nothing was saved."""
    return _render_item(
        request, disagreement, filters=filters, status=400, form_errors=errors, entered=_entered(request)
    )


@require_POST
@project_role_required(*REVIEWERS)
def review_resolve(request, slug, disagreement_id):
    disagreement = _get_or_404(request, disagreement_id)
    filters = _filters_from(request, request.POST.get("filters", ""))
    if not _shown_matches(request, disagreement):
        return _refuse_mismatch(request, disagreement, filters)
    form = ResolveForm(request.POST)
    step = _decision_step(request, disagreement, form, filters)
    if step is not None:
        return step
    data = form.cleaned_data
    spans, sources, errors = _gold_spans(request.project, data)
    if errors:
        return _refuse_input(request, disagreement, filters, errors)
    try:
        resolution = services.review_resolve(
            project=request.project,
            user=request.user,
            disagreement_id=disagreement.pk,
            verdict=data["verdict"],
            label_id=data["label"],
            labels=_gold_set(request.project, data),
            spans=spans,
            rationale=data["rationale"],
            guideline_gap=data["guideline_gap"],
        )
    except ApplicationError as exc:
        if _is_span_error(exc):
            return _refuse_input(request, disagreement, filters, [_span_error(exc.message, sources)])
        disagreement.refresh_from_db()
        return _render_item(
            request, disagreement, filters=filters, status=409, notice=exc.message, notice_level="error"
        )
    notice = "Resolved. Here is the next case."
    following = selectors.review_next(project=request.project, filters=filters, after_id=disagreement.pk)
    if not wants_partial(request):
        messages.success(request, notice if following else "Resolved. The queue is empty.")
        if following is None:
            return redirect(reverse("consistency:review_queue", args=[slug]))
        return redirect(_item_url(request.project, following.pk, filters))
    if following is None:
        return _render_empty(
            request, filters=filters, notice="Resolved. The queue is empty.", last_resolution=resolution
        )
    return _render_item(
        request, following, filters=filters, notice=notice, last_resolution=resolution, url_change="push"
    )


def _resolution_or_404(request, resolution_id):
    resolution = (
        request.project.resolutions.select_related("disagreement", "worked_example")
        .filter(pk=resolution_id)
        .first()
    )
    if resolution is None:
        raise Http404("No such resolution.")
    return resolution


@require_POST
@project_role_required(*REVIEWERS)
def resolution_revise(request, slug, resolution_id):
    resolution = _resolution_or_404(request, resolution_id)
    disagreement = resolution.disagreement
    filters = _filters_from(request, request.POST.get("filters", ""))
    if not _shown_matches(request, disagreement):
        return _refuse_mismatch(request, disagreement, filters)
    form = ResolveForm(request.POST)
    step = _decision_step(request, disagreement, form, filters)
    if step is not None:
        return step
    data = form.cleaned_data
    spans, sources, errors = _gold_spans(request.project, data)
    if errors:
        return _refuse_input(request, disagreement, filters, errors)
    try:
        revised = services.resolution_revise(
            project=request.project,
            user=request.user,
            resolution_id=resolution.pk,
            verdict=data["verdict"],
            label_id=data["label"],
            labels=_gold_set(request.project, data),
            spans=spans,
            rationale=data["rationale"],
            guideline_gap=data["guideline_gap"],
        )
    except ApplicationError as exc:
        if _is_span_error(exc):
            return _refuse_input(request, disagreement, filters, [_span_error(exc.message, sources)])
        return _render_item(
            request, disagreement, filters=filters, status=409, notice=exc.message, notice_level="error"
        )
    notice = "Resolution revised; the previous one is kept in the history."
    if hasattr(resolution, "worked_example"):
        if hasattr(revised, "worked_example"):
            notice += " Its worked example in the guideline draft now says the same."
        else:
            notice += (
                " Its worked example is no longer in the guideline draft as it was added"
                " (edited by hand?), so the draft was not changed: check it."
            )
    if not wants_partial(request):
        messages.success(request, notice)
        return redirect(_item_url(request.project, disagreement.pk, filters))
    return _render_item(request, disagreement, filters=filters, notice=notice)


@require_POST
@project_role_required(*REVIEWERS)
def worked_example_add(request, slug, resolution_id):
    """Add a decision to the draft, then show again the case that was on screen (`shown`: the
    next case, when the SME adds the case they just resolved), never the added one."""
    resolution = _resolution_or_404(request, resolution_id)
    filters = _filters_from(request, request.POST.get("filters", ""))
    shown_id = request.POST.get("shown", "")
    shown = _get_or_404(request, shown_id) if shown_id else None
    form = WorkedExampleForm(request.POST)
    explanation = form.cleaned_data["explanation"] if form.is_valid() else ""
    try:
        services.worked_example_add(
            project=request.project, user=request.user, resolution_id=resolution.pk, explanation=explanation
        )
    except ApplicationError as exc:
        notice, level = exc.message, "error"
    else:
        notice = (
            f"Example {resolution.example.external_id} was added to the guideline draft"
            " under \u201cWorked examples\u201d."
        )
        level = "success"
    if not wants_partial(request):
        getattr(messages, level)(request, notice)
        if shown is None:
            return redirect("consistency:review_queue", slug=slug)
        return redirect(_item_url(request.project, shown.pk, filters))
    if shown is None:
        return _render_empty(request, filters=filters, notice=notice, notice_level=level)
    return _render_item(
        request, shown, filters=filters, notice=notice, notice_level=level, url_change="replace"
    )


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


# --------------------------------------------------------------------------------------------------
# The queue's other tabs, skipping a case, and questions to raters

SKIPPED_KEY = "review_skipped:{project}"
MAX_SKIPPED = 500


def _skipped(request) -> list[int]:
    return list(request.session.get(SKIPPED_KEY.format(project=request.project.pk), []))


@require_POST
@project_role_required(*REVIEWERS)
def review_skip(request, slug, disagreement_id):
    """Put the case aside for this session and open the next open case the SME has not skipped."""
    disagreement = _get_or_404(request, disagreement_id)
    skipped = [pk for pk in _skipped(request) if pk != disagreement.pk] + [disagreement.pk]
    request.session[SKIPPED_KEY.format(project=request.project.pk)] = skipped[-MAX_SKIPPED:]
    filters = _filters_from(request, request.POST.get("filters", ""))
    later = selectors.review_queue(project=request.project, filters=filters, limit=len(skipped) + 1)
    following = next((case for case in later if case.pk not in skipped), None)
    if following is None:
        messages.info(request, "No other open case left; the cases you skipped are still in the queue.")
        return redirect("consistency:review_queue", slug=slug)
    return redirect(_item_url(request.project, following.pk, filters))


@require_POST
@project_role_required(*REVIEWERS)
def question_ask(request, slug, disagreement_id):
    try:
        questions.question_ask(
            project=request.project,
            user=request.user,
            disagreement_id=disagreement_id,
            rater_username=request.POST.get("rater", ""),
            question=request.POST.get("question", ""),
        )
    except NotFound:
        raise Http404("No such disagreement.") from None
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Question sent; the answer will appear here.")
    return redirect(reverse("consistency:review_item", args=[slug, disagreement_id]) + "#questions")


@require_http_methods(["GET", "POST"])
@project_role_required(Role.LABELER)
def my_questions(request, slug, question_id=None):
    """A labeler's questions from SMEs, with the example and their own label only; POST answers one."""
    if request.method == "POST":
        try:
            questions.question_answer(
                project=request.project,
                user=request.user,
                question_id=question_id,
                answer=request.POST.get("answer", ""),
            )
        except NotFound:
            raise Http404("No such question.") from None
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Thank you: your answer is with the SME.")
        return redirect("consistency:my_questions", slug=slug)
    rows = questions.questions_for_rater(project=request.project, user=request.user)
    return render(request, "consistency/my_questions.html", {"project": request.project, "questions": rows})
