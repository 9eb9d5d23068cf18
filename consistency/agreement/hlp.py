"""Human-level performance (HLP), pure: the pooled share of raters' annotations on gold examples
that equal the gold label, with a Wilson interval, overall and per rater, gold label and slice.

It sits in agreement (not quality) so the agreement dashboard and its JSON can show it live
beside agreement, which it complements; consistency.quality reads it for the model report. No
ORM here: `consistency.agreement.selectors.hlp_arrays` builds the arrays in one query.

An annotation by the person who wrote an example's gold label is never scored against it: the
selector drops those rows before they get here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from consistency.agreement.statistics import wilson_interval


def accuracy(hits: int, n: int) -> dict[str, Any]:
    """A share as `{"value", "ci95"}` (Wilson, 95%); both None when there is nothing to count."""
    if not n:
        return {"value": None, "ci95": None}
    low, high = wilson_interval(hits, n)
    return {"value": hits / n, "ci95": [float(low), float(high)]}


def grouped_hits(correct: np.ndarray, groups: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """(hits, n) per group code 0..n_groups-1."""
    groups = np.asarray(groups, dtype=np.int64)
    correct = np.asarray(correct, dtype=bool)
    n = np.bincount(groups, minlength=n_groups)
    hits = np.bincount(groups[correct], minlength=n_groups)
    return hits, n


def slice_hits(
    examples: np.ndarray,
    correct: np.ndarray,
    member_examples: np.ndarray,
    member_slices: np.ndarray,
    n_slices: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(hits, n) per slice, where an example may belong to several slices (tags) or one
    (a metadata field): each row (an annotation, or a model's prediction) counts in every slice
    of its example. `member_examples`/`member_slices` list the (example, slice code) pairs."""
    rows = pd.DataFrame(
        {"example": np.asarray(examples, dtype=np.int64), "correct": np.asarray(correct, dtype=bool)}
    )
    members = pd.DataFrame(
        {
            "example": np.asarray(member_examples, dtype=np.int64),
            "slice": np.asarray(member_slices, dtype=np.int64),
        }
    )
    joined = rows.merge(members, on="example", how="inner")
    return grouped_hits(joined["correct"].to_numpy(), joined["slice"].to_numpy(), n_slices)


def hlp_summary(
    *,
    raters: np.ndarray,
    gold_labels: np.ndarray,
    examples: np.ndarray,
    correct: np.ndarray,
    n_raters: int,
    n_labels: int,
    member_examples: np.ndarray | None = None,
    member_slices: np.ndarray | None = None,
    n_slices: int = 0,
) -> dict[str, Any]:
    """HLP overall, per rater (code), per gold label (code) and per slice (code), each with its n.

    All arrays have one entry per scored annotation (rater code, the gold label's code, the
    example, whether the annotation equals the gold label)."""
    correct = np.asarray(correct, dtype=bool)
    n = int(correct.size)
    out: dict[str, Any] = {"overall": {**accuracy(int(correct.sum()), n), "n": n}}
    hits, counts = grouped_hits(correct, raters, n_raters)
    out["per_rater"] = [
        {"rater": i, **accuracy(int(hits[i]), int(counts[i])), "n": int(counts[i])} for i in range(n_raters)
    ]
    hits, counts = grouped_hits(correct, gold_labels, n_labels)
    out["per_label"] = [
        {"label": j, **accuracy(int(hits[j]), int(counts[j])), "n": int(counts[j])}
        for j in range(n_labels)
        if counts[j]
    ]
    out["per_slice"] = []
    if member_examples is not None and n_slices:
        hits, counts = slice_hits(examples, correct, member_examples, member_slices, n_slices)
        out["per_slice"] = [
            {"slice": s, **accuracy(int(hits[s]), int(counts[s])), "n": int(counts[s])}
            for s in range(n_slices)
            if counts[s]
        ]
    return out
