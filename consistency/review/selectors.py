"""Reads for the review workflow: the SME queue with its filters and order, one review item with
everything the SME needs to decide, the guideline sections of the labels involved, and the gold
labels from current resolutions. Every read goes through the project the caller holds."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Prefetch, Q, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone

from consistency.review import span_layout
from consistency.review.models import Resolution, ReviewQuestion
from core.errors import NotFound
from core.markdown import render_markdown
from labeling.decisions import label_set_share
from labeling.models import Annotation, Disagreement
from projects.models import GuidelineVersion, Label, Project, TaskType
from projects.selectors import guideline_in_force, metadata_fields

AGE_CHOICES = {"1": 1, "7": 7, "30": 30}  # "opened more than N days ago"
QUEUE_PAGE_SIZE = 50


@dataclass(frozen=True)
class QueueFilters:
    """Already validated: label ids of the project, a known metadata key, an existing version."""

    label_pair: tuple[int, int] | None = None
    field: str = ""
    value: str = ""
    version: int | None = None
    older_than_days: int | None = None


def queue_filters_clean(*, project: Project, params) -> QueueFilters:
    """Turn request parameters into filters, dropping anything that is not one of the project's
    own labels, metadata keys or guideline versions (request strings never reach a lookup)."""
    label_ids = set(project.labels.values_list("pk", flat=True))
    pair = None
    raw_pair = str(params.get("pair") or "")
    if re.fullmatch(r"\d+-\d+", raw_pair):
        a, b = sorted(int(part) for part in raw_pair.split("-"))
        if a in label_ids and b in label_ids:
            pair = (a, b)
    field = str(params.get("field") or "")
    if field and field not in metadata_fields(project=project):
        field = ""
    value = str(params.get("value") or "")[:500] if field else ""
    version = None
    raw_version = str(params.get("version") or "")
    if raw_version.isdigit() and project.guideline_versions.filter(number=int(raw_version)).exists():
        version = int(raw_version)
    older = AGE_CHOICES.get(str(params.get("age") or ""))
    return QueueFilters(label_pair=pair, field=field, value=value, version=version, older_than_days=older)


def _pair(a: int | None, b: int | None) -> tuple[int | None, int | None]:
    return (a, b) if (a or 0) <= (b or 0) else (b, a)


def label_pair_counts(*, project: Project) -> Counter:
    """Open disagreements per unordered label pair: how confused each pair is."""
    rows = Disagreement.objects.filter(project=project, status=Disagreement.Status.OPEN).values_list(
        "label_a_id", "label_b_id"
    )
    return Counter(_pair(a, b) for a, b in rows)


def review_queue(
    *, project: Project, filters: QueueFilters, limit: int = QUEUE_PAGE_SIZE
) -> list[Disagreement]:
    """Open disagreements matching `filters`, the most confused label pairs first, then oldest first."""
    queryset = Disagreement.objects.filter(project=project, status=Disagreement.Status.OPEN)
    if filters.label_pair is not None:
        a, b = filters.label_pair
        queryset = queryset.filter(Q(label_a_id=a, label_b_id=b) | Q(label_a_id=b, label_b_id=a))
    if filters.field:
        # KeyTextTransform takes the key as one name, never as a chain of lookups.
        # Cast: a bare key transform compares as JSON on SQLite; the filter value is plain text.
        value = Cast(KeyTextTransform(filters.field, "example__metadata"), TextField())
        queryset = queryset.annotate(slice_value=value).filter(slice_value=filters.value)
    if filters.version is not None:
        queryset = queryset.filter(guideline_versions__number=filters.version)
    if filters.older_than_days:
        queryset = queryset.filter(created_at__lte=timezone.now() - timedelta(days=filters.older_than_days))
    rows = list(queryset.distinct().values_list("pk", "label_a_id", "label_b_id", "created_at"))
    counts = label_pair_counts(project=project)
    rows.sort(key=lambda row: (-counts[_pair(row[1], row[2])], row[3], row[0]))
    ids = [row[0] for row in rows[:limit]]
    by_id = {
        d.pk: d
        for d in Disagreement.objects.filter(pk__in=ids).select_related("example", "label_a", "label_b")
    }
    for pk in ids:
        by_id[pk].pair_count = counts[_pair(by_id[pk].label_a_id, by_id[pk].label_b_id)]
    if project.task_type == TaskType.SPANS:
        _span_summaries_add(list(by_id.values()))
    return [by_id[pk] for pk in ids]


def _span_summaries_add(disagreements: list[Disagreement]) -> None:
    """Each span case's `span_summary`: how many raters, and how many spans they disagree on
    (one query for the page)."""
    votes: dict[int, list] = {d.example_id: [] for d in disagreements}
    current = Annotation.objects.filter(example_id__in=list(votes), superseded_at__isnull=True)
    for example_id, spans in current.filter(spans__isnull=False).values_list("example_id", "spans"):
        votes[example_id].append(span_layout.spans_of(spans))
    for disagreement in disagreements:
        cast = votes[disagreement.example_id]
        disagreement.span_summary = {"raters": len(cast), "contested": span_layout.contested(cast)}


def review_queue_count(*, project: Project) -> int:
    return Disagreement.objects.filter(project=project, status=Disagreement.Status.OPEN).count()


def review_next(
    *, project: Project, filters: QueueFilters, after_id: int | None = None
) -> Disagreement | None:
    """The next item to review in queue order (skipping `after_id`)."""
    for disagreement in review_queue(project=project, filters=filters, limit=2):
        if disagreement.pk != after_id:
            return disagreement
    return None


def disagreement_get(*, project: Project, disagreement_id: int) -> Disagreement:
    try:
        return project.disagreements.select_related("example", "label_a", "label_b").get(pk=disagreement_id)
    except (Disagreement.DoesNotExist, ValueError, TypeError):
        raise NotFound("Disagreement not found.") from None


# No backtracking pattern around the title: "\s*#*\s*$" after a lazy title took minutes on one
# long line of spaces. The closing hashes are stripped in Python instead.
HEADING = re.compile(r"(#{1,6})\s+(.*)")


def _heading(line: str) -> tuple[int, str] | None:
    """(level, title) of an ATX heading line, its closing hashes removed; None for other lines."""
    match = HEADING.match(line)
    if match is None:
        return None
    return len(match.group(1)), match.group(2).strip().rstrip("#").strip()


def guideline_section(body: str, title: str) -> str | None:
    """The Markdown section of `body` under the heading whose text is `title` (case-insensitive),
    up to the next heading of the same or a higher level; None if there is no such heading."""
    lines = (body or "").splitlines()
    wanted = title.strip().casefold()
    for start, line in enumerate(lines):
        heading = _heading(line)
        if heading and heading[1].casefold() == wanted:
            level = heading[0]
            end = len(lines)
            for i in range(start + 1, len(lines)):
                other = _heading(lines[i])
                if other and other[0] <= level:
                    end = i
                    break
            return "\n".join(lines[start:end])
    return None


def review_item(*, project: Project, disagreement: Disagreement, span_start: str = "") -> dict:
    """Everything one review page shows: the example, every rater's label and note by name, the
    guideline sections of the labels involved, and the resolutions so far (newest first). On a
    span project, `spans` holds the aligned rows and the candidate spans (`span_review`)."""
    example = disagreement.example
    annotations = list(
        Annotation.objects.filter(example=example, superseded_at__isnull=True)
        .select_related("rater", "label", "guideline_version", "example")
        .order_by("created_at", "id")
    )
    guideline = guideline_in_force(project=project)
    involved_ids = {a.label_id for a in annotations if a.label_id is not None} | {
        pk for pk in (disagreement.label_a_id, disagreement.label_b_id) if pk
    }
    involved_ids |= {pk for a in annotations for pk in (a.labels or ())}
    involved_ids |= {span[2] for a in annotations for span in (a.spans or ())}
    sections = []
    for label in project.labels.filter(pk__in=involved_ids):
        section = guideline_section(guideline.body, label.name) if guideline else None
        sections.append({"label": label, "section": render_markdown(section) if section else None})
    resolutions = list(
        Resolution.objects.filter(example=example)
        .select_related("sme", "label", "worked_example", "example")
        .order_by("-created_at", "-id")
    )
    metadata = sorted(example.metadata.items()) if isinstance(example.metadata, dict) else []
    # Multi-label: the set the resolve form starts from (the current decision, else the per-label
    # majority of the raters' sets).
    proposed_set: list[int] = []
    if resolutions and resolutions[0].labels is not None:
        proposed_set = list(resolutions[0].labels)
    elif any(a.labels is not None for a in annotations):
        sets = [a.labels for a in annotations if a.labels is not None]
        present, _ = label_set_share(sets)
        proposed_set = sorted(pk for pk, count in present.items() if 2 * count > len(sets))
    spans = None
    if project.task_type == TaskType.SPANS:
        spans = span_review(
            project=project,
            example=example,
            annotations=annotations,
            resolutions=resolutions,
            start=span_start,
        )
    return {
        "spans": spans,
        "proposed_set": proposed_set,
        "disagreement": disagreement,
        "example": example,
        "metadata": metadata,
        "annotations": annotations,
        "sections": sections,
        "guideline": guideline,
        "resolutions": resolutions,
        "current_resolution": resolutions[0] if resolutions else None,
        "questions": list(
            ReviewQuestion.objects.filter(disagreement=disagreement).select_related("rater", "asked_by")
        ),
    }


MAJORITY_ROW = "majority"
DECISION_ROW = "decision"


def span_review(
    *,
    project: Project,
    example,
    annotations: list[Annotation],
    resolutions: list[Resolution],
    start: str = "",
) -> dict:
    """A span example as the SME compares and decides it.

    `lines`: the text cut into short lines, each with one row per rater, the majority (spans
    more than half of the raters marked) and the current decision, so boundaries line up.
    `candidates`: every span any row holds, with the raters who marked it, checked when it is in
    the starting set: the row named by `start` ("majority", "decision" or "a<annotation id>"),
    else the current decision, else the majority.
    """
    labels = list(project.labels.order_by("position", "id"))
    names = {label.pk: label.name for label in labels}
    colours = {label.pk: index % span_layout.PALETTE_SIZE for index, label in enumerate(labels)}
    votes = [(a, span_layout.spans_of(a.spans)) for a in annotations if a.spans is not None]
    majority = span_layout.majority([spans for _, spans in votes])
    current = resolutions[0] if resolutions and resolutions[0].spans is not None else None
    rows = [
        {"key": f"a{a.pk}", "who": a.rater.username, "kind": "rater", "spans": spans} for a, spans in votes
    ]
    rows.append({"key": MAJORITY_ROW, "who": "Majority", "kind": MAJORITY_ROW, "spans": majority})
    if current is not None:
        rows.append(
            {
                "key": DECISION_ROW,
                "who": "Decision",
                "kind": DECISION_ROW,
                "spans": span_layout.spans_of(current.spans),
            }
        )
    by_key = {row["key"]: row for row in rows}
    chosen = by_key.get(start) or by_key.get(DECISION_ROW) or by_key[MAJORITY_ROW]
    text = example.text or ""

    def shown(segment: span_layout.Segment) -> dict:  # what one run of characters looks like
        span = segment.span
        if span is None:
            return {"text": segment.text}
        return {
            "text": segment.text,
            "label": names.get(span[2], "?"),
            "colour": colours.get(span[2], 0),
            "opens": segment.opens,
            "closes": segment.closes,
            "nested": segment.nested,
            "title": "; ".join(f"{names.get(s[2], '?')} {s[0]}\u2013{s[1]}" for s in segment.spans),
        }

    lines = []
    for line in span_layout.text_lines(text):
        cut = [(row, span_layout.line_segments(text, line, row["spans"])) for row in rows]
        lines.append(
            {"start": line[0], "rows": [{**row, "segments": [shown(p) for p in parts]} for row, parts in cut]}
        )
    extra = [*majority, *chosen["spans"], *(span_layout.spans_of(current.spans) if current else ())]
    candidates = [
        {
            "key": c.key,
            "start": c.span[0],
            "end": c.span[1],
            "label": names.get(c.span[2], "?"),
            "colour": colours.get(c.span[2], 0),
            "text": text[c.span[0] : c.span[1]],
            "raters": c.raters,
            "checked": c.span in chosen["spans"],
        }
        for c in span_layout.candidates([(a.rater.username, spans) for a, spans in votes], extra)
    ]
    return {
        "lines": lines,
        "rows": rows,
        "chosen": chosen["key"],
        "candidates": candidates,
        "n_raters": len(votes),
        "names": names,
        "colours": colours,
        "legend": [{"name": label.name, "colour": colours[label.pk]} for label in labels],
    }


def review_decided(*, project: Project, verdict: str) -> QuerySet[Resolution]:
    """The cases whose current decision is `verdict` (gold: resolved, excluded), newest first."""
    return (
        Resolution.objects.filter(project=project, verdict=verdict, superseded_by__isnull=True)
        .select_related("example", "label", "sme", "disagreement")
        .order_by("-created_at", "-id")
    )


def resolutions_current(*, project: Project) -> QuerySet[Resolution]:
    """Resolutions nobody has revised."""
    return Resolution.objects.filter(project=project, superseded_by__isnull=True)


def gold_labels(*, project: Project) -> dict[int, tuple[Any, int]]:
    """{example id: (the SME's answer, the SME's user id)} from each example's current (newest)
    resolution with a gold answer. The answer is a label id on a single-label project, a tuple of
    label ids on a multi-label one, a tuple of (start, end, label id) on a span project. The SME is
    kept so that nobody's labels are scored against their own decision."""
    gold: dict[int, tuple[Any, int]] = {}
    rows = (
        resolutions_current(project=project)
        .order_by("created_at", "id")
        .values_list("example_id", "verdict", "label_id", "labels", "spans", "sme_id")
    )
    for example_id, verdict, label_id, labels, spans, sme_id in rows:
        if verdict != Resolution.Verdict.GOLD:
            gold.pop(example_id, None)  # a newer exclusion replaces an older gold label
        elif spans is not None:
            gold[example_id] = (tuple(tuple(span) for span in spans), sme_id)
        elif labels is not None:
            gold[example_id] = (tuple(labels), sme_id)
        else:
            gold[example_id] = (label_id, sme_id)
    return gold


# --------------------------------------------------------------------------------------------------
# The disagreements as the API shows them

VOTE_FIELDS = (
    "id",
    "example",
    "rater",
    "label",
    "labels",
    "spans",
    "guideline_version",
    "rater__id",
    "rater__username",
    "label__id",
    "label__name",
    "guideline_version__id",
    "guideline_version__number",
    "ambiguous",
    "ambiguous_note",
    "note",
    "created_at",
    "superseded_at",
)


def disagreement_list_api(
    *,
    project: Project,
    status: str | None = None,
    reason: str | None = None,
    label: str | None = None,
    created_after: datetime | None = None,
) -> QuerySet[Disagreement]:
    """The project's disagreements with typed, allow-listed filters; `label` (a name) matches
    either of the two most-voted labels. Everything the API shows is fetched in a constant number
    of queries: one for the page, one each for guideline versions, votes and current resolutions."""
    queryset = project.disagreements.all()
    if status is not None:
        queryset = queryset.filter(status=status)
    if reason is not None:
        queryset = queryset.filter(reason=reason)
    if label is not None:
        queryset = queryset.filter(Q(label_a__name=label) | Q(label_b__name=label))
    if created_after is not None:
        queryset = queryset.filter(created_at__gt=created_after)
    votes = (
        Annotation.objects.select_related("rater", "label", "guideline_version")
        .only(*VOTE_FIELDS)
        .order_by("created_at", "id")
    )
    current_resolutions = Resolution.objects.filter(superseded_by__isnull=True).select_related("sme", "label")
    return queryset.select_related("example", "label_a", "label_b").prefetch_related(
        Prefetch(
            "guideline_versions", queryset=GuidelineVersion.objects.order_by("number").only("id", "number")
        ),
        Prefetch("example__annotations", queryset=votes, to_attr="api_votes"),
        Prefetch("resolutions", queryset=current_resolutions, to_attr="api_current_resolutions"),
    )


def disagreement_get_api(*, project: Project, disagreement_id: int) -> Disagreement:
    disagreement = disagreement_list_api(project=project).filter(pk=disagreement_id).first()
    if disagreement is None:
        raise NotFound("Disagreement not found.")
    return disagreement


def disagreement_votes(disagreement: Disagreement) -> list[Annotation]:
    """The votes the disagreement was about, from `disagreement_list_api`'s prefetch: the example's
    annotations in force when it was resolved (or now, while it is open). A later relabeling round
    supersedes them and adds new ones; those belong to a later disagreement, not to this one."""
    moment = disagreement.resolved_at or timezone.now()
    return [
        vote
        for vote in disagreement.example.api_votes
        if vote.created_at <= moment and (vote.superseded_at is None or vote.superseded_at > moment)
    ]


def disagreement_current_resolution(disagreement: Disagreement) -> Resolution | None:
    """The resolution in force (the newest revision), from `disagreement_list_api`'s prefetch."""
    current = disagreement.api_current_resolutions
    return current[0] if current else None


def label_names(*, project_id: int) -> dict[int, str]:
    return dict(Label.objects.filter(project_id=project_id).values_list("pk", "name"))


def label_id_by_name(*, project: Project, name: str) -> int | None:
    return project.labels.filter(name=name).values_list("pk", flat=True).first()
