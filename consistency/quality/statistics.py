"""Pure statistics of a model against gold and human-level performance (HLP), no ORM.

- Model accuracy on gold: the share of gold examples the model predicted whose predicted label
  equals the gold label, with a Wilson interval (statsmodels' proportion_confint).
- HLP: the pooled share of raters' annotations on gold equal to the gold label
  (consistency.agreement.hlp), with a Wilson interval.
- The gap HLP - model accuracy per slice, with Newcombe's hybrid score interval for a difference
  of two proportions (Newcombe 1998, method 10), built from the two Wilson intervals. It treats the
  two shares as independent: HLP pools annotations (several per example) and the model's share
  counts examples, so the interval is an approximation, honest about each side's own n.
- Model agreement with the consensus label on every example with both: Cohen's kappa with its
  large-sample interval (consistency.agreement.statistics.cohen_kappa_pairs).

Slices sort by gap, largest first; a slice without a gap (no gold in it, or no HLP) goes last.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from consistency.agreement.hlp import accuracy, slice_hits
from consistency.agreement.statistics import cohen_kappa_pairs, wilson_interval


def difference_interval(hits_a: int, n_a: int, hits_b: int, n_b: int) -> list[float] | None:
    """Newcombe's hybrid score 95% interval for p_a - p_b; None when either side has no data."""
    if not n_a or not n_b:
        return None
    p_a, p_b = hits_a / n_a, hits_b / n_b
    (low_a, high_a), (low_b, high_b) = wilson_interval([hits_a, hits_b], [n_a, n_b])
    d = p_a - p_b
    low = d - np.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2)
    high = d + np.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2)
    return [float(max(-1.0, low)), float(min(1.0, high))]


def model_kappa(consensus: np.ndarray, predicted: np.ndarray, n_labels: int) -> dict[str, Any]:
    """Cohen's kappa of the model's labels against the consensus labels (codes, one pair per
    example), with its 95% interval and n; value None (and a reason) when undefined."""
    consensus = np.asarray(consensus, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    n = int(consensus.size)
    if n < 2:
        return {"value": None, "ci95": None, "n": n, "reason": "too_few_examples"}
    items = np.concatenate([np.arange(n), np.arange(n)])
    raters = np.concatenate([np.zeros(n, dtype=np.int64), np.ones(n, dtype=np.int64)])
    pairs = cohen_kappa_pairs(items, raters, np.concatenate([consensus, predicted]), n_labels)
    if not pairs:
        return {"value": None, "ci95": None, "n": n, "reason": "too_few_examples"}
    estimate = pairs[0].estimate
    ci = list(estimate.ci95) if estimate.ci95 is not None else None
    return {"value": estimate.value, "ci95": ci, "n": n, "reason": estimate.reason}


# The verdict on the gap (human level minus model) from its 95% interval: the difference is
# tested, not the two intervals compared. Below MIN_GOLD_FOR_VERDICT gold examples, no verdict.
GAP_MODEL_BELOW = "model_below_human_level"
GAP_MODEL_ABOVE = "model_above_human_level"
GAP_NOT_DISTINGUISHABLE = "not_distinguishable"
GAP_TOO_FEW_GOLD = "too_few_gold"
MIN_GOLD_FOR_VERDICT = 30


def gap_verdict(gap: float | None, ci95: list[float] | None, n_gold: int) -> str | None:
    """The verdict code of a gap with its 95% interval (None when there is no gap)."""
    if gap is None or ci95 is None:
        return None
    if n_gold < MIN_GOLD_FOR_VERDICT:
        return GAP_TOO_FEW_GOLD
    if ci95[0] > 0:
        return GAP_MODEL_BELOW
    if ci95[1] < 0:
        return GAP_MODEL_ABOVE
    return GAP_NOT_DISTINGUISHABLE


def _slice_row(
    value, n_gold: int, share: float, model: tuple[int, int], human: tuple[int, int]
) -> dict[str, Any]:
    model_acc, hlp = accuracy(*model), accuracy(*human)
    gap = None
    if model_acc["value"] is not None and hlp["value"] is not None:
        gap = hlp["value"] - model_acc["value"]
    ci95 = difference_interval(human[0], human[1], model[0], model[1]) if gap is not None else None
    return {
        "value": value,
        "n_gold": n_gold,
        "share": share,
        "model_accuracy": model_acc,
        "hlp": hlp,
        "n_hlp": human[1],
        "gap": gap,
        "gap_ci95": ci95,
        "gap_verdict": gap_verdict(gap, ci95, n_gold),
    }


def model_report(
    *,
    gold_examples: np.ndarray,
    model_correct: np.ndarray,
    hlp_examples: np.ndarray,
    hlp_correct: np.ndarray,
    n_examples: int,
    member_examples: np.ndarray | None = None,
    member_slices: np.ndarray | None = None,
    slice_names: list | None = None,
) -> dict[str, Any]:
    """The model report's figures (everything but names and kappa).

    `gold_examples`/`model_correct`: one entry per gold example the model predicted, whether the
    prediction equals the gold label. `hlp_examples`/`hlp_correct`: one entry per scored
    annotation on gold. `n_examples`: all examples of the project (the shares' denominator).
    Slices are (example, slice code) pairs with `slice_names[code]`.
    """
    model_correct = np.asarray(model_correct, dtype=bool)
    hlp_correct = np.asarray(hlp_correct, dtype=bool)
    n_gold = int(model_correct.size)
    out: dict[str, Any] = {
        "model_accuracy": accuracy(int(model_correct.sum()), n_gold),
        "hlp": accuracy(int(hlp_correct.sum()), int(hlp_correct.size)),
        "n_gold": n_gold,
        "n_hlp": int(hlp_correct.size),
        "slices": [],
    }
    overall = _slice_row(
        None, n_gold, 1.0, (int(model_correct.sum()), n_gold), (int(hlp_correct.sum()), hlp_correct.size)
    )
    out["gap"], out["gap_ci95"], out["gap_verdict"] = (
        overall["gap"],
        overall["gap_ci95"],
        overall["gap_verdict"],
    )
    if member_examples is None or not slice_names:
        return out
    n_slices = len(slice_names)
    model_hits, model_n = slice_hits(gold_examples, model_correct, member_examples, member_slices, n_slices)
    hlp_hits, hlp_n = slice_hits(hlp_examples, hlp_correct, member_examples, member_slices, n_slices)
    # An example counts once per slice even if listed twice (a tag added twice cannot happen, but be safe).
    members = pd.DataFrame(
        {"e": np.asarray(member_examples), "s": np.asarray(member_slices)}
    ).drop_duplicates()
    sizes = np.bincount(members["s"].to_numpy(dtype=np.int64), minlength=n_slices)
    rows = [
        _slice_row(
            slice_names[s],
            int(model_n[s]),
            float(sizes[s] / n_examples) if n_examples else 0.0,
            (int(model_hits[s]), int(model_n[s])),
            (int(hlp_hits[s]), int(hlp_n[s])),
        )
        for s in range(n_slices)
    ]
    # Largest gap first; slices without a gap last, biggest share first among them.
    rows.sort(key=lambda row: (row["gap"] is None, -(row["gap"] or 0.0), -row["share"]))
    out["slices"] = rows
    return out
