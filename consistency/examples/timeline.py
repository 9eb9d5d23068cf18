"""One example's history as a list of entries in time order, built from the rows each part of
Concord keeps: the import, the labeling events (leases, expiries, skips, edits, undos), the
annotations (current and superseded), the review queue, the SME's resolutions and revisions,
relabel requests, guideline versions and the releases that include the example.

`example_timeline(..., viewer_rater=user)` is a labeler's view: only their own entries, guideline
versions and relabel requests; never another rater's label, a decision or a release (they are
made from everyone's labels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.utils.dateparse import parse_datetime

from consistency.releases.models import DatasetRelease, DatasetReleaseItem
from consistency.review.models import RelabeledExample, Resolution
from labeling.models import Annotation, ConsensusLabel, Disagreement, LabelingEvent
from labeling.selectors import answer_text
from projects.models import Example, Project


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # a stable word the page styles and tests read: "labeled", "edited", "resolved", ...
    who: str  # a username, or "" for Concord itself
    text: str
    order: int = 0  # ties at the same instant keep the order things happen in
    private_to: int | None = field(default=None, compare=False)  # rater id: a labeler sees their own
    reviewers_only: bool = field(default=False, compare=False)  # made from everyone's labels


def _name(user) -> str:
    return user.get_username() if user is not None else ""


def _answer(example: Example, answer) -> str:
    """A label, a multi-label set ("billing + bug", "none of these") or spans over the example's
    text (`PER "Ada Lovelace"`, "no entities") in words."""
    spans = getattr(answer, "spans", None)
    return answer_text(
        project=example.project, label=answer.label, labels=answer.labels, spans=spans, text=example.text
    )


def _label_words(values: dict) -> str:
    words = values.get("label_name") or "?"
    if values.get("ambiguous"):
        words += (
            " (ambiguous" + (f": {values['ambiguous_note']}" if values.get("ambiguous_note") else "") + ")"
        )
    if values.get("note"):
        words += f", note: {values['note']}"
    if values.get("guideline_version"):
        words += f", under guideline v{values['guideline_version']}"
    return words


def _decision_words(values: dict) -> str:
    source = ConsensusLabel.Source(values["source"]).label.lower()
    share = f", {values['agreement']:.0%} agreement" if values.get("agreement") is not None else ""
    return f"{source}{share}, {values.get('n_raters')} raters"


def _labeling_entries(example: Example) -> list[Entry]:
    entries: list[Entry] = []
    events = list(LabelingEvent.objects.filter(example=example).select_related("rater").order_by("at", "id"))
    # An annotation's first values: those kept by its first edit or its undo, else its current ones.
    original: dict[int, dict] = {}
    for event in events:
        if event.kind in (LabelingEvent.Kind.EDITED, LabelingEvent.Kind.UNDONE):
            original.setdefault(event.details.get("annotation"), event.details)
    annotations = Annotation.objects.filter(example=example).select_related(
        "rater", "label", "guideline_version"
    )
    for annotation in annotations:
        values = original.get(annotation.pk) or {
            "label_name": _answer(example, annotation),
            "ambiguous": annotation.ambiguous,
            "ambiguous_note": annotation.ambiguous_note,
            "note": annotation.note,
            "guideline_version": annotation.guideline_version.number
            if annotation.guideline_version
            else None,
        }
        how = "imported label" if annotation.source == Annotation.Source.IMPORT else "labeled"
        entries.append(
            Entry(
                annotation.created_at,
                "labeled",
                _name(annotation.rater),
                f"{how}: {_label_words(values)}",
                2,
                annotation.rater_id,
            )
        )
        if annotation.superseded_at is not None:
            entries.append(
                Entry(
                    annotation.superseded_at,
                    "superseded",
                    _name(annotation.rater),
                    "label set aside for relabeling (kept as history): " + _answer(example, annotation),
                    6,
                    annotation.rater_id,
                )
            )
    current_ids = {a.pk for a in annotations}
    for event in events:
        who, details = _name(event.rater), event.details
        if event.kind == LabelingEvent.Kind.LEASED:
            until = parse_datetime(details.get("expires_at", "")) if details.get("expires_at") else None
            text = "was handed the example" + (f" (lease until {until:%Y-%m-%d %H:%M} UTC)" if until else "")
            entries.append(Entry(event.at, "leased", who, text, 1, event.rater_id))
        elif event.kind == LabelingEvent.Kind.LEASE_EXPIRED:
            entries.append(
                Entry(
                    event.at,
                    "lease_expired",
                    who,
                    "lease expired; the example went back to the pool",
                    1,
                    event.rater_id,
                )
            )
        elif event.kind == LabelingEvent.Kind.SKIPPED:
            entries.append(
                Entry(event.at, "skipped", who, f"skipped: {details.get('reason', '')}", 2, event.rater_id)
            )
        elif event.kind == LabelingEvent.Kind.EDITED:
            text = f"edited the label: {_label_words(details)} → {_label_words(details.get('to', {}))}"
            entries.append(Entry(event.at, "edited", who, text, 3, event.rater_id))
        elif event.kind == LabelingEvent.Kind.UNQUEUED:
            queued_at = parse_datetime(details.get("queued_at", "")) or event.at
            labels = " vs ".join(details.get("labels", []))
            text = f"queued for review: {details.get('reason', '')}" + (f" ({labels})" if labels else "")
            entries.append(Entry(queued_at, "queued", "", text, 4, reviewers_only=True))
            entries.append(
                Entry(
                    event.at,
                    "unqueued",
                    "",
                    "taken out of the review queue: sent back for relabeling",
                    5,
                    reviewers_only=True,
                )
            )
        elif event.kind == LabelingEvent.Kind.UNDECIDED:
            decided_at = parse_datetime(details.get("decided_at", "")) or event.at
            text = f"decided: {details.get('label_name') or '?'} ({_decision_words(details)})"
            entries.append(Entry(decided_at, "decided", "", text, 4, reviewers_only=True))
            why = details.get("why") or "the labels changed"
            entries.append(
                Entry(event.at, "undecided", "", f"decision withdrawn: {why}", 5, reviewers_only=True)
            )
        elif event.kind == LabelingEvent.Kind.UNDONE:
            if details.get("annotation") not in current_ids:  # its "labeled" entry comes from here
                labeled_at = parse_datetime(details.get("labeled_at", "")) or event.at
                values = original.get(details.get("annotation"), details)
                entries.append(
                    Entry(labeled_at, "labeled", who, f"labeled: {_label_words(values)}", 2, event.rater_id)
                )
            entries.append(
                Entry(event.at, "undone", who, f"undid the label {_label_words(details)}", 3, event.rater_id)
            )
    return entries


def _review_entries(example: Example) -> list[Entry]:
    entries: list[Entry] = []
    for disagreement in Disagreement.objects.filter(example=example).select_related("label_a", "label_b"):
        labels = " vs ".join(label.name for label in (disagreement.label_a, disagreement.label_b) if label)
        text = f"queued for review: {disagreement.get_reason_display().lower()}" + (
            f" ({labels})" if labels else ""
        )
        entries.append(Entry(disagreement.created_at, "queued", "", text, 4, reviewers_only=True))
    consensus = ConsensusLabel.objects.filter(example=example).select_related("label").first()
    if consensus is not None and consensus.source in (
        ConsensusLabel.Source.UNANIMOUS,
        ConsensusLabel.Source.MAJORITY,
    ):
        how = _decision_words(
            {"source": consensus.source, "agreement": consensus.agreement, "n_raters": consensus.n_raters}
        )
        text = f"decided: {_answer(example, consensus)} ({how})"
        entries.append(Entry(consensus.decided_at, "decided", "", text, 4, reviewers_only=True))
    for resolution in (
        Resolution.objects.filter(example=example).select_related("sme", "label").order_by("created_at", "id")
    ):
        verdict = (
            _answer(example, resolution)
            if resolution.verdict == Resolution.Verdict.GOLD
            else "excluded as genuinely ambiguous"
        )
        kind, verb = (
            ("revised", "revised the decision to")
            if resolution.supersedes_id
            else ("resolved", "resolved as")
        )
        text = f"{verb} {verdict}" + (f": {resolution.rationale}" if resolution.rationale else "")
        if resolution.guideline_gap:
            text += " (guideline gap)"
        entries.append(
            Entry(resolution.created_at, kind, _name(resolution.sme), text, 6, reviewers_only=True)
        )
    return entries


def _relabel_entries(example: Example) -> list[Entry]:
    entries = []
    for row in RelabeledExample.objects.filter(example=example).select_related(
        "request__requested_by", "request__guideline_version"
    ):
        request = row.request
        text = (
            f"sent back for relabeling under guideline v{request.guideline_version.number} "
            f"({request.get_scope_display().lower()})"
        )
        entries.append(Entry(request.created_at, "relabel", _name(request.requested_by), text, 5))
    return entries


def _release_entries(example: Example) -> list[Entry]:
    items = DatasetReleaseItem.objects.filter(
        example=example, release__status=DatasetRelease.Status.READY
    ).select_related("release__created_by")
    return [
        Entry(
            item.release.finished_at or item.release.created_at,
            "released",
            _name(item.release.created_by),
            f"included in release {item.release.tag} as {item.label} ({item.source}, {item.split} split)",
            7,
            reviewers_only=True,
        )
        for item in items
    ]


def _guideline_entries(project: Project, since: datetime) -> list[Entry]:
    return [
        Entry(
            version.published_at,
            "guideline",
            _name(version.author),
            f"guideline v{version.number} published: {version.changelog}",
            0,
        )
        for version in project.guideline_versions.filter(published_at__gte=since).select_related("author")
    ]


def example_timeline(
    *, project: Project, example: Example, viewer_rater: AbstractBaseUser | None = None
) -> list[Entry]:
    """Everything that happened to `example`, oldest first. With `viewer_rater`, that rater's view."""
    batch = example.import_batch
    entries = [
        Entry(
            example.created_at,
            "imported",
            _name(batch.created_by) if batch else "",
            f"imported from {batch.source_name}" if batch else "added",
            -1,
        )
    ]
    entries += _labeling_entries(example)
    entries += _relabel_entries(example)
    entries += _guideline_entries(project, example.created_at)
    if viewer_rater is None:
        entries += _review_entries(example)
        entries += _release_entries(example)
    else:
        entries = [
            e
            for e in entries
            if e.private_to == viewer_rater.pk or (e.private_to is None and not e.reviewers_only)
        ]
    return sorted(entries, key=lambda e: (e.at, e.order))
