"""Writes for the review workflow: detecting disagreements (called by labeling under the example's
lock), resolving and revising them, adding a resolved case to the guideline draft as a worked
example, and sending examples back for relabeling after a new guideline version."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from consistency.review.models import RelabeledExample, RelabelRequest, Resolution, WorkedExample
from consistency.review.span_layout import spans_markdown, spans_of
from core.errors import ApplicationError, Conflict, NotFound
from core.models import AuditEntry
from core.services import audit_record
from labeling.models import (
    Annotation,
    Assignment,
    ConsensusLabel,
    Disagreement,
    LabelingEvent,
)
from labeling.selectors import answer_text
from labeling.services.annotations import label_set_clean, span_answer_clean
from labeling.services.decisions import decisions_withdrawn_record
from projects.models import Example, GuidelineDraft, GuidelineVersion, Label, Project, TaskType
from projects.selectors import guideline_in_force
from projects.services.guidelines import MAX_GUIDELINE_CHARS

MAX_RATIONALE_CHARS = 5000
RELABEL_BATCH = 500
WORKED_EXAMPLES_HEADING = "## Worked examples"
ALREADY_RESOLVED_MESSAGE = (
    "Another reviewer resolved this case while you were looking at it; "
    "nothing was saved. Open it again to see their decision and revise it if needed."
)
ALREADY_RESOLVED_BY_YOU_MESSAGE = (
    "You already resolved this case (perhaps in another tab); nothing was saved. "
    "Its decision is shown here; revise it if needed."
)
SPANS_NEEDED = 'This project marks spans: give the gold spans ([] for "no entities").'
EXCLUSION_NEEDS_RATIONALE = (
    "Say why the case is genuinely ambiguous: a case kept out of the dataset needs a rationale."
)


class ResolutionConflict(Conflict):
    """Another reviewer resolved (or revised) the case first: a conflict, not bad input."""


def _lock_example(project: Project, example_id: int) -> Example:
    try:
        return project.examples.select_for_update().get(pk=example_id)
    except (Example.DoesNotExist, ValueError, TypeError):
        raise NotFound("Example not found.") from None


def _verdict_fields(
    project: Project, *, verdict: str, label_id, labels, spans, rationale: str
) -> tuple[Label | None, list[int] | None, str]:
    """(gold label, gold label set, rationale), checked: a label on a single-label project, a set
    of the project's labels on a multi-label one (empty only where "none of these" is allowed).
    On a span project both are None and the spans are checked against the text (`_gold_spans`)."""
    rationale = (rationale or "").strip()
    if len(rationale) > MAX_RATIONALE_CHARS:
        raise ApplicationError(f"The rationale is too long (at most {MAX_RATIONALE_CHARS} characters).")
    if verdict == Resolution.Verdict.EXCLUDED:
        # Excluding removes the example from every release; the reason must be on record.
        if not rationale:
            raise ApplicationError(
                EXCLUSION_NEEDS_RATIONALE, extra={"rationale": [EXCLUSION_NEEDS_RATIONALE]}
            )
        return None, None, rationale
    if verdict != Resolution.Verdict.GOLD:
        raise ApplicationError("Choose a label, or rule the case genuinely ambiguous.")
    if project.task_type == TaskType.SPANS:
        if spans is None or labels is not None or label_id is not None:
            raise ApplicationError(SPANS_NEEDED, extra={"spans": [SPANS_NEEDED]})
        return None, None, rationale
    if spans is not None:
        message = "This project does not mark spans: choose a label (or a set of labels)."
        raise ApplicationError(message, extra={"spans": [message]})
    if project.task_type == TaskType.MULTI:
        if labels is None:
            message = "This project is multi-label: choose the set of labels that apply."
            raise ApplicationError(message, extra={"labels": [message]})
        return None, label_set_clean(project=project, label_ids=labels), rationale
    if labels is not None:
        message = "This project takes one label per example, not a set of labels."
        raise ApplicationError(message, extra={"labels": [message]})
    try:
        return project.labels.get(pk=label_id), None, rationale
    except (Label.DoesNotExist, ValueError, TypeError):
        raise ApplicationError("Choose one of this project's labels.") from None


def _gold_spans(project: Project, example: Example, *, verdict: str, spans) -> list[list[int]] | None:
    """The gold spans checked as a rater's are (labeling's span_answer_clean: the example's text,
    the project's labels, nesting), in stored form; None when the decision is not a span answer.
    Errors name the span and field."""
    if verdict != Resolution.Verdict.GOLD or project.task_type != TaskType.SPANS:
        return None
    return span_answer_clean(project=project, text=example.text, spans=spans)


def _write_consensus(example: Example, resolution: Resolution) -> None:
    gold = resolution.verdict == Resolution.Verdict.GOLD
    n_raters = Annotation.objects.filter(example=example, superseded_at__isnull=True).count()
    ConsensusLabel.objects.update_or_create(
        example=example,
        defaults={
            "label": resolution.label,
            "labels": resolution.labels,
            "spans": resolution.spans,
            "source": ConsensusLabel.Source.GOLD if gold else ConsensusLabel.Source.EXCLUDED,
            "agreement": None,
            "n_raters": n_raters,
            "decided_at": resolution.created_at,
        },
    )


def review_resolve(
    *,
    project: Project,
    user: AbstractBaseUser,
    disagreement_id: int,
    verdict: str,
    label_id: int | None = None,
    labels: list | None = None,
    spans: list | None = None,
    rationale: str = "",
    guideline_gap: bool = False,
) -> Resolution:
    """Decide an open disagreement: a gold label (a gold label set, `labels`, on a multi-label
    project), or excluded as genuinely ambiguous.

    The disagreement row lock serialises two reviewers on the same case; the second is told it
    was already resolved (ALREADY_RESOLVED_MESSAGE), and the partial unique constraint (one first
    resolution per disagreement) backs the check.
    """
    label, label_set, rationale = _verdict_fields(
        project, verdict=verdict, label_id=label_id, labels=labels, spans=spans, rationale=rationale
    )
    try:
        with transaction.atomic():
            found = (
                project.disagreements.filter(pk=disagreement_id).values_list("example_id", flat=True).first()
            )
            if found is None:
                raise NotFound("Disagreement not found.")
            example = _lock_example(project, found)
            gold_spans = _gold_spans(project, example, verdict=verdict, spans=spans)
            disagreement = project.disagreements.select_for_update().get(pk=disagreement_id)
            if disagreement.status != Disagreement.Status.OPEN:
                first = disagreement.resolutions.filter(supersedes__isnull=True).first()
                if first is not None and first.sme_id == user.pk:  # e.g. from another tab
                    raise ResolutionConflict(ALREADY_RESOLVED_BY_YOU_MESSAGE)
                raise ResolutionConflict(ALREADY_RESOLVED_MESSAGE)
            resolution = Resolution.objects.create(
                project=project,
                disagreement=disagreement,
                example=example,
                label=label,
                labels=label_set,
                spans=gold_spans,
                verdict=verdict,
                guideline_gap=bool(guideline_gap),
                rationale=rationale,
                sme=user,
            )
            disagreement.status = Disagreement.Status.RESOLVED
            disagreement.resolved_at = resolution.created_at
            disagreement.save(update_fields=["status", "resolved_at"])
            _write_consensus(example, resolution)
            _audit_resolution(project, user, example, resolution, AuditEntry.Action.GOLD_SET)
            return resolution
    except IntegrityError:
        raise ResolutionConflict(ALREADY_RESOLVED_MESSAGE) from None


def resolution_revise(
    *,
    project: Project,
    user: AbstractBaseUser,
    resolution_id: int,
    verdict: str,
    label_id: int | None = None,
    labels: list | None = None,
    spans: list | None = None,
    rationale: str = "",
    guideline_gap: bool = False,
) -> Resolution:
    """Replace the current resolution of an example by a new one that supersedes it (history kept).

    If the revised decision was in the guideline draft as a worked example, that line is rewritten
    for the new decision (the draft never keeps a worked example that contradicts the gold label),
    and the new resolution owns the worked example. A line the draft no longer holds (removed or
    rewritten by hand) is left alone; the new decision can then be added again.
    """
    label, label_set, rationale = _verdict_fields(
        project, verdict=verdict, label_id=label_id, labels=labels, spans=spans, rationale=rationale
    )
    try:
        with transaction.atomic():
            found = project.resolutions.filter(pk=resolution_id).values_list("example_id", flat=True).first()
            if found is None:
                raise NotFound("Resolution not found.")
            example = _lock_example(project, found)
            gold_spans = _gold_spans(project, example, verdict=verdict, spans=spans)
            previous = project.resolutions.select_for_update().get(pk=resolution_id)
            newest = Resolution.objects.filter(example=example).order_by("-created_at", "-id").first()
            if newest.pk != previous.pk:
                raise ApplicationError(
                    "This resolution has already been revised; revise the newest one instead."
                )
            if not ConsensusLabel.objects.filter(
                example=example, source__in=[ConsensusLabel.Source.GOLD, ConsensusLabel.Source.EXCLUDED]
            ).exists():
                raise ApplicationError(
                    "This example was sent back for relabeling; its old resolution stays as history."
                )
            resolution = Resolution.objects.create(
                project=project,
                disagreement=previous.disagreement,
                example=example,
                label=label,
                labels=label_set,
                spans=gold_spans,
                verdict=verdict,
                guideline_gap=bool(guideline_gap),
                rationale=rationale,
                sme=user,
                supersedes=previous,
            )
            _write_consensus(example, resolution)
            _worked_example_follow(project=project, user=user, previous=previous, resolution=resolution)
            _audit_resolution(project, user, example, resolution, AuditEntry.Action.GOLD_REVISED)
            return resolution
    except IntegrityError:
        raise ApplicationError(
            "Someone else revised this resolution at the same time; reload to see theirs."
        ) from None


def _audit_resolution(
    project: Project, user: AbstractBaseUser, example: Example, resolution: Resolution, action: str
) -> None:
    audit_record(
        action=action,
        actor=user,
        project=project,
        target=example.external_id,
        details={
            "verdict": resolution.verdict,
            "label": answer_text(
                project=project,
                label=resolution.label,
                labels=resolution.labels,
                spans=resolution.spans,
                text=example.text,
            )
            or None,
            **({"labels": resolution.labels} if resolution.labels is not None else {}),
            **({"spans": resolution.spans} if resolution.spans is not None else {}),
            "resolution": resolution.pk,
        },
    )


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# The explanation box reads "because ...", so people type the word themselves.
LEADING_BECAUSE = re.compile(r"^because\b[\s,:]*", re.IGNORECASE)


def _worked_example_line(resolution: Resolution, explanation: str) -> str:
    """The draft's Markdown line for a resolved case (one line: whitespace is collapsed)."""
    because = LEADING_BECAUSE.sub("", _one_line(explanation, 1000)).strip()
    quoted = _one_line(resolution.example.text).replace('"', "'")
    if resolution.verdict == Resolution.Verdict.GOLD and resolution.spans is not None:
        line = f'- "{_spans_quoted(resolution)}" has ' + _entities_counted(len(resolution.spans))
    elif resolution.verdict == Resolution.Verdict.GOLD:
        answer = answer_text(project=resolution.project, label=resolution.label, labels=resolution.labels)
        line = f'- "{quoted}" is **{answer}**'
    else:
        line = f'- "{quoted}" is genuinely ambiguous and kept out of the dataset'
    if because:
        line += f", because {because}"
    return line + f" (example `{resolution.example.external_id}`)"


def _spans_quoted(resolution: Resolution) -> str:
    """The example's text with the gold spans in bold, each followed by its label's name."""
    names = dict(resolution.project.labels.values_list("pk", "name"))
    text = resolution.example.text.replace('"', "'")  # one character for one: offsets hold
    return spans_markdown(text, spans_of(resolution.spans), names)


def _entities_counted(n: int) -> str:
    if not n:
        return "**no entities**"
    return f"**{n} {'entity' if n == 1 else 'entities'}** as marked"


def _draft_line_replace(body: str, *, old_lines: list[str], new_line: str, external_id: str) -> str | None:
    """`body` with the worked-example line of this example replaced by `new_line` (and any
    duplicate of it dropped), or None when the draft holds no such line.

    The line is found by its exact text, else as the one worked-example line that names the
    example (an SME may have reworded it); line endings are kept as they are.
    """
    lines = body.splitlines(keepends=True)
    wanted = {old.strip() for old in old_lines}
    hits = [i for i, line in enumerate(lines) if line.strip() in wanted]
    if not hits:
        marker = f"(example `{external_id}`)"
        named = [i for i, line in enumerate(lines) if line.startswith("- ") and marker in line]
        hits = named if len(named) == 1 else []
    if not hits:
        return None
    first = lines[hits[0]]
    ending = first[len(first.rstrip("\r\n")) :] or "\n"
    lines[hits[0]] = new_line + ending
    for i in reversed(hits[1:]):
        del lines[i]
    return "".join(lines)


def _draft_save(draft: GuidelineDraft, body: str, user: AbstractBaseUser) -> None:
    if len(body) > MAX_GUIDELINE_CHARS:
        raise ApplicationError(f"The guideline would be longer than {MAX_GUIDELINE_CHARS:,} characters.")
    draft.body = body
    draft.updated_by = user
    draft.save()


def _worked_example_follow(
    *, project: Project, user: AbstractBaseUser, previous: Resolution, resolution: Resolution
) -> None:
    """Under the example's lock, after a revision: carry the previous decision's worked example
    over to the new one, rewriting its line in the draft."""
    draft = GuidelineDraft.objects.select_for_update().filter(project=project).first()
    old = WorkedExample.objects.filter(resolution=previous).first()  # read under the draft lock
    if draft is None or old is None:
        return
    same_decision = (previous.verdict, previous.label_id, previous.labels, previous.spans) == (
        resolution.verdict,
        resolution.label_id,
        resolution.labels,
        resolution.spans,
    )
    if same_decision and not resolution.rationale:
        line = old.text  # nothing the line says has changed
    else:
        line = _worked_example_line(resolution, resolution.rationale)
    body = _draft_line_replace(
        draft.body, old_lines=[old.text], new_line=line, external_id=resolution.example.external_id
    )
    if body is None:
        return
    _draft_save(draft, body, user)
    WorkedExample.objects.create(
        project=project, resolution=resolution, example=resolution.example, text=line, added_by=user
    )


def worked_example_add(
    *, project: Project, user: AbstractBaseUser, resolution_id: int, explanation: str = ""
) -> WorkedExample:
    """Put a resolved case in the guideline draft under "Worked examples", linked to its example.

    Only the example's current decision can be added. If the draft still holds a line for an
    earlier decision on the same example, that line is replaced, never repeated.
    """
    with transaction.atomic():
        Project.objects.select_for_update().get(pk=project.pk)
        resolution = project.resolutions.select_related("example", "label").filter(pk=resolution_id).first()
        if resolution is None:
            raise NotFound("Resolution not found.")
        if Resolution.objects.filter(supersedes=resolution).exists():
            raise ApplicationError("This decision has been revised since; add the current decision instead.")
        if WorkedExample.objects.filter(resolution=resolution).exists():
            raise ApplicationError("This case is already a worked example in the draft.")
        line = _worked_example_line(resolution, explanation or resolution.rationale)
        draft, _ = GuidelineDraft.objects.select_for_update().get_or_create(project=project)
        earlier = list(
            WorkedExample.objects.filter(example=resolution.example).values_list("text", flat=True)
        )
        body = (
            _draft_line_replace(
                draft.body, old_lines=earlier, new_line=line, external_id=resolution.example.external_id
            )
            if earlier
            else None
        )
        if body is None:
            body = draft.body.rstrip("\n")
            if WORKED_EXAMPLES_HEADING not in body.splitlines():
                body = f"{body}\n\n{WORKED_EXAMPLES_HEADING}\n" if body else f"{WORKED_EXAMPLES_HEADING}\n"
            body = f"{body}\n{line}\n"
        _draft_save(draft, body, user)
        return WorkedExample.objects.create(
            project=project, resolution=resolution, example=resolution.example, text=line, added_by=user
        )


# --------------------------------------------------------------------------------------------------
# Relabeling

RELABEL_DISAGREEMENTS = RelabelRequest.Scope.DISAGREEMENTS.value
RELABEL_OLDER = RelabelRequest.Scope.OLDER.value
RELABEL_SAMPLE = RelabelRequest.Scope.SAMPLE.value
RELABEL_SCOPES = (RELABEL_DISAGREEMENTS, RELABEL_OLDER, RELABEL_SAMPLE)


def _older_example_ids(project: Project, current: GuidelineVersion) -> list[int]:
    """Every example labeled under an older version: its current labels are older than `current`,
    or it was sent back for its disagreements under `current` and not since by a label-blind request.

    The second group matters to the before/after comparison. Leaving out the examples sent back
    for disagreeing would make "older" and "sample" pick the agreeing ones, chosen by their labels
    as much as "disagreements" is: a fresh labeling of them would look worse for nothing.
    """
    older = Q(guideline_version__isnull=True) | Q(guideline_version__number__lt=current.number)
    ids = set(
        Annotation.objects.filter(example__project=project, superseded_at__isnull=True)
        .filter(older)
        .order_by()
        .values_list("example_id", flat=True)
        .distinct()
    )
    sent_back = RelabeledExample.objects.filter(request__project=project, request__guideline_version=current)
    chosen_by_labels = set(
        sent_back.filter(request__scope__in=RelabelRequest.OUTCOME_SELECTED).values_list(
            "example_id", flat=True
        )
    )
    if chosen_by_labels:
        chosen_by_labels -= set(
            sent_back.exclude(request__scope__in=RelabelRequest.OUTCOME_SELECTED).values_list(
                "example_id", flat=True
            )
        )
        ids |= set(
            Annotation.objects.filter(example_id__in=chosen_by_labels)
            .filter(older)
            .order_by()
            .values_list("example_id", flat=True)
            .distinct()
        )
    return sorted(ids)


def _disagreement_example_ids(project: Project, current: GuidelineVersion) -> list[int]:
    previous = project.guideline_versions.filter(number__lt=current.number).order_by("-number").first()
    since = Q(created_at__lte=current.published_at)
    if previous is not None:
        since &= Q(created_at__gt=previous.published_at)
    current_ids = Resolution.objects.filter(project=project, superseded_by__isnull=True)
    return sorted(set(current_ids.filter(Q(guideline_gap=True) | since).values_list("example_id", flat=True)))


def relabel_request(
    *, project: Project, user: AbstractBaseUser, scope: str, n: int | None = None, seed: int | None = None
) -> int:
    """Send examples back for relabeling under the guideline in force; returns how many.

    Scopes: the examples whose disagreements led to the change (resolutions tagged guideline gap,
    or resolved since the previous version), every example labeled under an older version (those
    already sent back for their disagreements under this version included, see
    `_older_example_ids`), or a random sample of `n` of those. The request is recorded with its
    scope and its examples (`RelabelRequest`), so the before/after comparison knows which examples
    were chosen because their raters disagreed. A sample without a seed gets a random one,
    recorded to redraw it.
    """
    current = guideline_in_force(project=project)
    if current is None:
        raise Conflict("Publish a guideline version before sending examples back for relabeling.")
    if scope == RELABEL_DISAGREEMENTS:
        ids = _disagreement_example_ids(project, current)
    elif scope in (RELABEL_OLDER, RELABEL_SAMPLE):
        ids = _older_example_ids(project, current)
        if scope == RELABEL_SAMPLE:
            if not n or n < 1:
                raise ApplicationError("Say how many examples to sample (at least one).")
            if seed is None:
                seed = random.SystemRandom().randrange(2**62)
            ids = sorted(random.Random(seed).sample(ids, min(n, len(ids))))
    else:
        raise ApplicationError("Choose which examples to send back.")
    relabeling = RelabelRequest.objects.create(
        project=project,
        scope=scope,
        guideline_version=current,
        requested_by=user if user is not None and user.is_authenticated else None,
        sample_size=n if scope == RELABEL_SAMPLE else None,
        seed=seed if scope == RELABEL_SAMPLE else None,
    )
    sent = 0
    for start in range(0, len(ids), RELABEL_BATCH):
        sent += examples_relabel(
            project=project, example_ids=ids[start : start + RELABEL_BATCH], relabeling=relabeling
        )
    RelabelRequest.objects.filter(pk=relabeling.pk).update(n_examples=sent)
    audit_record(
        action=AuditEntry.Action.RELABEL_REQUESTED,
        actor=user,
        project=project,
        target=f"{sent} examples",
        details={"scope": scope, "guideline_version": current.number, "request": relabeling.pk},
    )
    return len(ids)


@transaction.atomic
def examples_relabel(
    *, project: Project, example_ids: Iterable[int], relabeling: RelabelRequest | None = None
) -> int:
    """One batch, one transaction, under the examples' row locks (in id order, so two batches never
    deadlock): supersede their current annotations, reset counts, free every seat, and drop the
    consensus and any open disagreement. Resolutions stay as history. With a `relabeling` request,
    each example is recorded in it with the highest annotation id at this point: labeling takes
    the same row lock, so every annotation of these examples made before has an id up to it, every
    later one a higher id."""
    locked = list(
        project.examples.select_for_update()
        .filter(pk__in=list(example_ids))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not locked:
        return 0
    now = timezone.now()
    if relabeling is not None:
        mark = Annotation.objects.aggregate(mark=Max("id"))["mark"] or 0
        RelabeledExample.objects.bulk_create(
            RelabeledExample(request=relabeling, example_id=pk, annotation_mark=mark) for pk in locked
        )
    Annotation.objects.filter(example_id__in=locked, superseded_at__isnull=True).update(
        superseded_at=now, updated_at=now
    )
    # Every seat is freed, so the seat hint (projects.models.Example) counts none either.
    Example.objects.filter(pk__in=locked).update(
        annotation_count=0, extra_raters=0, seats_leased=0, seats_leased_until=None
    )
    Assignment.objects.filter(example_id__in=locked).delete()
    decisions_withdrawn_record(project=project, example_ids=locked, why="sent back for relabeling")
    ConsensusLabel.objects.filter(example_id__in=locked).delete()
    withdrawn = Disagreement.objects.filter(example_id__in=locked, status=Disagreement.Status.OPEN)
    # The open case leaves the queue; the example's history keeps that it was queued, and why.
    LabelingEvent.objects.bulk_create(
        LabelingEvent(
            project_id=project.pk,
            example_id=case.example_id,
            kind=LabelingEvent.Kind.UNQUEUED,
            at=now,
            details={
                "queued_at": case.created_at.isoformat(),
                "reason": case.get_reason_display().lower(),
                "labels": [label.name for label in (case.label_a, case.label_b) if label is not None],
            },
        )
        for case in withdrawn.select_related("label_a", "label_b")
    )
    withdrawn.delete()
    return len(locked)
