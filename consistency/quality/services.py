"""Writes of the data-quality loop: sending the examples most likely mislabeled to the SME review
queue (issue 14, item 6).

`label_issues_send` builds the arrays (selectors.label_issue_arrays), ranks them with the pure
kernel (consistency.quality.label_issues.rank_label_issues: confident learning with a model's
probabilities, CROWDLAB with raters and a model, a reliability-weighted vote with raters only),
and opens a review case (labeling.models.Disagreement, reason "label_issue") for the top N
flagged examples (the project's `label_issue_top_n`) that have no open case yet, each with the
sentence saying why (consistency.quality.messages). An SME resolves them like any other case.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from consistency.quality.label_issues import rank_label_issues
from consistency.quality.messages import label_issue_sentence
from consistency.quality.selectors import label_issue_arrays
from core.errors import ApplicationError
from labeling.models import Disagreement
from labeling.services.decisions import cases_queued_notify
from projects.models import PredictionSet, Project


def label_issues_send(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    prediction_set: PredictionSet | None = None,
    top_n: int | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Rank the project's current labels and queue the top `top_n` (default: the project's
    setting) likely errors for review. Returns what was found and sent; with `dry_run` nothing
    is written and the would-be cases are listed."""
    top_n = project.label_issue_top_n if top_n is None else int(top_n)
    if not 1 <= top_n <= 10_000:
        raise ApplicationError("Send 1 to 10000 label issues at once.", extra={"top_n": ["Out of range."]})
    arrays = label_issue_arrays(project=project, prediction_set=prediction_set)
    probs = arrays.pred_probs
    if probs is not None and not arrays.has_probs.all():
        # Rows the model gave no probabilities for: uniform (no opinion) rather than made-up certainty.
        probs[~arrays.has_probs] = 1.0 / max(len(arrays.label_ids), 1)
    annotations = arrays.annotations if arrays.annotations.shape[1] else None
    ranking = rank_label_issues(
        arrays.labels, max(len(arrays.label_ids), 1), pred_probs=probs, annotations=annotations
    )
    # Candidates in the kernel's order (flagged first, then by quality): the rows confident
    # learning flags, and the rows whose most likely label (the evidence's argmax) is not their
    # current one. On small projects the per-class thresholds over CROWDLAB's smoothed posterior
    # flag nothing even where two raters and the model agree on another label; the argmax still
    # says the current label is less likely than another, which is what an SME should look at.
    doubtful = ranking.is_issue | (ranking.suggested != arrays.labels)
    flagged = ranking.order[doubtful[ranking.order]]
    model = prediction_set.display_name if prediction_set is not None else ""
    with transaction.atomic():
        already = set(
            Disagreement.objects.filter(
                project=project,
                status=Disagreement.Status.OPEN,
                example_id__in=arrays.example_ids[flagged].tolist(),
            ).values_list("example_id", flat=True)
        )
        chosen = [row for row in flagged.tolist() if int(arrays.example_ids[row]) not in already][:top_n]
        cases = [_case(project, arrays, ranking, row, model) for row in chosen]
        if not dry_run and cases:
            Disagreement.objects.bulk_create(cases)
            cases_queued_notify(project=project)
    return {
        "method": ranking.method,
        "model": model or None,
        "n_examples": int(len(arrays.example_ids)),
        "n_issues": int(doubtful.sum()),
        "already_in_review": len(already),
        "sent": 0 if dry_run else len(cases),
        "dry_run": dry_run,
        "issues": [
            {
                "example_id": case.example_id,
                "quality": float(ranking.quality[row]),
                "reason": case.reason_detail,
            }
            for case, row in zip(cases, chosen, strict=True)
        ],
    }


def _case(project: Project, arrays, ranking, row: int, model: str) -> Disagreement:
    current, suggested = int(arrays.labels[row]), int(ranking.suggested[row])
    share = arrays.agreement[row]
    return Disagreement(
        project=project,
        example_id=int(arrays.example_ids[row]),
        reason=Disagreement.Reason.LABEL_ISSUE,
        label_a_id=arrays.label_ids[current],
        label_b_id=arrays.label_ids[suggested] if suggested != current else None,
        majority_share=None if np.isnan(share) else float(share),
        reason_detail=label_issue_sentence(
            reason=int(ranking.reason[row]),
            method=ranking.method,
            quality=float(ranking.quality[row]),
            current=arrays.label_names[current],
            suggested=arrays.label_names[suggested],
            model=model,
        ),
    )
