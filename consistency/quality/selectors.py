"""Reads for the data-quality loop: gold, prediction sets, and the arrays of a model report, built
in a few integer queries (consistency.agreement.selectors.fetch_int_matrix), never per example."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db.models import Count, Q

from consistency.agreement.selectors import fetch_int_matrix, gold_annotations, slice_members
from consistency.quality import statistics as stats
from core.errors import NotFound
from labeling.models import ConsensusLabel
from projects.models import GoldLabel, Prediction, PredictionSet, Project


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
    have passed projects.selectors.slice_field_clean."""
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
