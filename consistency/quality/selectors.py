"""Reads for the data-quality loop: gold, prediction sets, and the arrays of a model report, built
in a few integer queries (consistency.agreement.selectors.fetch_int_matrix), never per example."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import Count, F, IntegerField, Q, Value
from django.db.models.functions import Cast, Coalesce

from consistency.agreement.selectors import fetch_int_matrix, gold_annotations, label_codes, slice_members
from consistency.quality import messages
from consistency.quality import statistics as stats
from core.errors import Conflict, NotFound
from labeling.models import Annotation, ConsensusLabel
from projects.models import GoldLabel, Prediction, PredictionSet, Project, TaskType

SINGLE_LABEL_ONLY = (
    "Model reports and label issues work on single-label projects only: the raters of this project "
    "choose label sets or spans. Its agreement report covers them."
)


def single_label_required(*, project: Project) -> None:
    """Refuse (Conflict) the model loop on a project whose answers are not single labels: model
    predictions, gold and the label-issue ranking are one label per example."""
    if project.task_type != TaskType.SINGLE:
        raise Conflict(SINGLE_LABEL_ONLY)


def prediction_set_list(*, project: Project) -> list[PredictionSet]:
    return list(PredictionSet.objects.filter(project=project).order_by("model_name", "-created_at"))


def prediction_set_get(*, project: Project, prediction_set_id: Any) -> PredictionSet:
    try:
        return PredictionSet.objects.get(project=project, pk=prediction_set_id)
    except (PredictionSet.DoesNotExist, ValueError, TypeError):
        raise NotFound("Model not found.") from None


def prediction_set_by_name(*, project: Project, model: str, version: str | None = None) -> PredictionSet:
    """The named model's given version, or its newest import when no version is given."""
    queryset = PredictionSet.objects.filter(project=project, model_name=model)
    if version is not None:
        queryset = queryset.filter(version=version)
    found = queryset.order_by("-created_at", "-pk").first()
    if found is None:
        raise NotFound(
            f"No model named {model!r}{f' version {version!r}' if version else ''} in this project."
        )
    return found


def gold_overview(*, project: Project) -> dict[str, int]:
    counts = GoldLabel.objects.filter(project=project).aggregate(
        labeled=Count("pk", filter=Q(label__isnull=False)), waiting=Count("pk", filter=Q(label__isnull=True))
    )
    return {"labeled": counts["labeled"], "waiting": counts["waiting"]}


def gold_waiting(*, project: Project, limit: int = 50) -> list[GoldLabel]:
    """Examples drawn for gold that no SME has labeled yet, oldest draw first."""
    return list(
        GoldLabel.objects.filter(project=project, label__isnull=True)
        .select_related("example")
        .order_by("pk")[:limit]
    )


@dataclass(frozen=True)
class ModelArrays:
    """A model's predictions against gold and consensus, as label codes."""

    gold_examples: np.ndarray  # gold examples the model predicted
    model_correct: np.ndarray  # its prediction equals the gold label
    consensus: np.ndarray  # consensus label codes on examples with a consensus and a prediction
    consensus_predicted: np.ndarray  # the model's codes on those examples
    n_examples: int
    n_labels: int


def _codes(label_ids: list[int], values: np.ndarray) -> np.ndarray:
    ids = np.asarray(label_ids, dtype=np.int64)
    order = np.argsort(ids)
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    return order[np.searchsorted(ids[order], values)].astype(np.int64)


def model_arrays(*, project: Project, prediction_set: PredictionSet, label_ids: list[int]) -> ModelArrays:
    """Three integer queries: the model's predictions, the gold labels, the consensus labels."""
    predictions = fetch_int_matrix(
        Prediction.objects.filter(prediction_set=prediction_set)
        .order_by("example_id")
        .values_list("example_id", "label_id"),
        n_columns=2,
    )
    gold = fetch_int_matrix(
        GoldLabel.objects.filter(project=project, label__isnull=False)
        .order_by("example_id")
        .values_list("example_id", "label_id"),
        n_columns=2,
    )
    consensus = fetch_int_matrix(
        ConsensusLabel.objects.filter(example__project=project, label__isnull=False)
        .order_by("example_id")
        .values_list("example_id", "label_id"),
        n_columns=2,
    )
    pred_examples, pred_labels = predictions[:, 0], predictions[:, 1]

    def predicted_for(examples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mask of `examples` the model predicted, its label ids for those)."""
        if len(pred_examples) == 0 or len(examples) == 0:
            return np.zeros(len(examples), dtype=bool), np.zeros(0, dtype=np.int64)
        pos = np.clip(np.searchsorted(pred_examples, examples), 0, len(pred_examples) - 1)
        found = pred_examples[pos] == examples
        return found, pred_labels[pos[found]]

    found, model_on_gold = predicted_for(gold[:, 0])
    found_c, model_on_consensus = predicted_for(consensus[:, 0])
    return ModelArrays(
        gold_examples=gold[found, 0],
        model_correct=model_on_gold == gold[found, 1],
        consensus=_codes(label_ids, consensus[found_c, 1]),
        consensus_predicted=_codes(label_ids, model_on_consensus),
        n_examples=project.examples.count(),
        n_labels=len(label_ids),
    )


def model_report_build(
    *, project: Project, prediction_set: PredictionSet, slice_field: str = "", tags: bool = False
) -> dict[str, Any]:
    """The model report JSON: model accuracy and HLP on gold, the gap per slice (largest first),
    and the model's kappa against the consensus on every example with both. `slice_field` must
    have passed projects.selectors.slice_field_clean. Conflict on a project that is not single-label."""
    single_label_required(project=project)
    hlp_rows = gold_annotations(project=project)
    arrays = model_arrays(project=project, prediction_set=prediction_set, label_ids=hlp_rows.label_ids)
    members = slice_members(project=project, slice_field=slice_field, tags=tags)
    report = stats.model_report(
        gold_examples=arrays.gold_examples,
        model_correct=arrays.model_correct,
        hlp_examples=hlp_rows.examples,
        hlp_correct=hlp_rows.correct,
        n_examples=arrays.n_examples,
        member_examples=members.examples if members else None,
        member_slices=members.codes if members else None,
        slice_names=members.names if members else None,
    )
    report["gap_sentence"] = messages.gap_sentence(
        verdict=report["gap_verdict"], gap=report["gap"], ci95=report["gap_ci95"], n_gold=report["n_gold"]
    )
    return {
        "model": prediction_set.model_name,
        "version": prediction_set.version,
        "n_predictions": prediction_set.n_predictions,
        "slice": "tag" if tags else (slice_field or None),
        **report,
        "model_kappa_vs_consensus": stats.model_kappa(
            arrays.consensus, arrays.consensus_predicted, arrays.n_labels
        ),
    }


@dataclass(frozen=True)
class LabelIssueArrays:
    """The label-issue kernel's input (consistency.quality.label_issues.rank_label_issues)."""

    example_ids: np.ndarray  # (n,) the examples, in the rows' order
    labels: np.ndarray  # (n,) current label codes: the consensus, or the single annotation
    annotations: np.ndarray  # (n, R) int16 label codes per rater column, -1 where not labeled
    pred_probs: np.ndarray | None  # (n, K) the model's probabilities, None without a model's
    has_probs: np.ndarray | None  # (n,) rows the model gave probabilities for
    label_ids: list[int]
    label_names: list[str]
    agreement: np.ndarray  # (n,) the consensus agreement (NaN where none)


def _probabilities(prediction_set: PredictionSet, example_ids: np.ndarray, label_ids: list[int]):
    """(n, K) probabilities in the project's label order for `example_ids`, and the rows found.
    On PostgreSQL the JSON arrays come through COPY as text and NumPy parses the numbers."""
    n, k = len(example_ids), len(label_ids)
    column_of = {label_id: code for code, label_id in enumerate(label_ids)}
    columns = np.asarray(
        [column_of.get(label_id, -1) for label_id in prediction_set.label_ids], dtype=np.int64
    )
    rows = Prediction.objects.filter(prediction_set=prediction_set, probabilities__isnull=False).order_by(
        "example_id"
    )
    width = len(columns)
    if connection.vendor == "postgresql":
        sql, params = rows.values_list("example_id", "probabilities").query.sql_with_params()
        buffer = io.StringIO()
        with connection.cursor() as cursor:
            query = cursor.cursor.mogrify(sql, params).decode()
            cursor.cursor.copy_expert(f"COPY ({query}) TO STDOUT", buffer)
        text = buffer.getvalue().translate(str.maketrans("[],\t", "    "))
        flat = np.fromstring(text, dtype=np.float64, sep=" ") if text.strip() else np.zeros(0)  # noqa: NPY201
        matrix = flat.reshape(-1, width + 1)
        ids, values = matrix[:, 0].astype(np.int64), matrix[:, 1:]
    else:
        fetched = list(rows.values_list("example_id", "probabilities"))
        ids = np.asarray([pk for pk, _ in fetched], dtype=np.int64)
        values = np.asarray([p for _, p in fetched], dtype=np.float64).reshape(-1, width)
    probs = np.zeros((n, k), dtype=np.float64)
    found = np.zeros(n, dtype=bool)
    if len(ids) and n:
        pos = np.clip(np.searchsorted(example_ids, ids), 0, n - 1)
        hit = example_ids[pos] == ids
        keep = columns >= 0  # a label removed from the project since: its column is dropped
        probs[np.ix_(pos[hit], columns[keep])] = values[hit][:, keep]
        found[pos[hit]] = True
    return probs, found


def label_issue_arrays(*, project: Project, prediction_set: PredictionSet | None = None) -> LabelIssueArrays:
    """Arrays for the label-issue ranking, in a few integer queries: every example with a current
    label (its consensus, or its only current annotation), its raters' current labels as an
    (n, raters) matrix, and, with a model, its probabilities (zero rows where it gave none).
    Conflict on a project that is not single-label."""
    single_label_required(project=project)
    label_ids, label_names, code = label_codes(project)
    consensus = fetch_int_matrix(
        ConsensusLabel.objects.filter(example__project=project, label__isnull=False)
        .annotate(share=Coalesce(F("agreement") * 1_000_000, Value(-1.0)))
        .annotate(share_int=Cast("share", IntegerField()))
        .order_by("example_id")
        .values_list("example_id", "label_id", "share_int"),
        n_columns=3,
    )
    votes = fetch_int_matrix(
        Annotation.objects.filter(example__project=project, superseded_at__isnull=True)
        .order_by("example_id")
        .values_list("example_id", "rater_id", "label_id"),
        n_columns=3,
    )
    # Examples with one annotation and no consensus take that annotation as their current label.
    vote_examples, first, counts = np.unique(votes[:, 0], return_index=True, return_counts=True)
    single = (counts == 1) & ~np.isin(vote_examples, consensus[:, 0])
    example_ids = np.concatenate([consensus[:, 0], vote_examples[single]])
    current = np.concatenate([consensus[:, 1], votes[first[single], 2]])
    agreement = np.concatenate(
        [np.where(consensus[:, 2] >= 0, consensus[:, 2] / 1_000_000, np.nan), np.full(single.sum(), np.nan)]
    )
    order = np.argsort(example_ids, kind="stable")
    example_ids, current, agreement = example_ids[order], current[order], agreement[order]
    n = len(example_ids)
    rater_ids, rater_cols = np.unique(votes[:, 1], return_inverse=True)
    matrix = np.full((n, len(rater_ids)), -1, dtype=np.int16)
    if n and len(votes):
        pos = np.clip(np.searchsorted(example_ids, votes[:, 0]), 0, n - 1)
        hit = example_ids[pos] == votes[:, 0]
        matrix[pos[hit], rater_cols[hit]] = code(votes[hit, 2])
    probs = found = None
    if prediction_set is not None and prediction_set.label_ids:
        probs, found = _probabilities(prediction_set, example_ids, label_ids)
    return LabelIssueArrays(
        example_ids=example_ids,
        labels=code(current),
        annotations=matrix,
        pred_probs=probs,
        has_probs=found,
        label_ids=label_ids,
        label_names=label_names,
        agreement=agreement,
    )
