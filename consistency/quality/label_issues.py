"""Rank examples whose current label is likely wrong, from a model's probabilities and/or raters' votes.

Pure, vectorised NumPy (no Django): a selector builds the arrays, a service sends the top of the
ranking to the review queue, and the product words the reason codes in one place. One entry point,
`rank_label_issues`; at 1,000,000 examples x 10 labels x 3 votes it takes about 1-2 s and under
200 MB beyond its inputs (bench/bench_label_issues.py).

Inputs
------
``labels``       (n,) int, the current label of each example as a code ``0..n_classes-1`` (the
                 consensus, or the single annotation where there is only one).
``n_classes``    K >= 1, the number of label codes.
``pred_probs``   optional (n, K) float, a model's out-of-sample probabilities; every entry in [0, 1],
                 every row summing to 1 within 1e-3.
``annotations``  optional (n, R) int, column r = rater r (the same person in every row), the code that
                 rater gave the example or -1 where they did not label it. R may be 0.
``annotators``   optional (n, S) int rater codes 0..R-1 for a compact layout when there are many raters:
                 then ``annotations`` is (n, S), one column per slot (the first, second... vote on
                 each example), and ``annotators[i, s]`` says who cast ``annotations[i, s]`` (-1 where
                 that is -1; a rater at most once per row). ``annotator_weight`` is then indexed by code.

Which evidence is used (``LabelIssues.method``)
-----------------------------------------------
* ``confident_learning`` -- probabilities only. Confident learning (Northcutt, Jiang & Chuang 2021),
  step for step as cleanlab's ``find_label_issues(filter_by="prune_by_noise_rate")``: per-class
  thresholds t_j = mean predicted probability of class j over the examples labeled j; the confident
  joint counts, for each given label, the examples whose probability reaches another class's threshold;
  calibrated to the label counts, it says how many examples to prune from each (given, true) cell, and
  those with the largest margin p_true - p_given are flagged (none where the model's argmax is the
  current label). Quality = self-confidence p[label] (or the normalized margin, ``rank_by``).
* ``crowdlab`` -- probabilities and annotations. CROWDLAB (Goh, Mueller & Northcutt 2022), as cleanlab's
  ``get_label_quality_multiannotator`` with the current labels as the consensus: each rater's weight is
  their agreement with the other raters of the same examples, rescaled against the error of always
  answering the most common class; the model's weight is its accuracy against the consensus rescaled the
  same way, times sqrt(mean annotations per example). The posterior of example i is the weighted mean
  of the model's probabilities and each vote (the consensus likelihood on the chosen class, the rest
  spread evenly over the others). Quality = posterior probability of the current label.
* ``weighted_vote`` -- annotations only (no model): the same estimate with the model's weight at zero,
  i.e. an annotator-weighted vote in which a rater who agrees with the others counts for more than
  one who does not (a one-parameter-per-rater simplification of Dawid-Skene that needs no iteration).
  Where every rater is equally reliable, quality is a linear function of the share of raters who chose
  the current label (cl * share + (1 - cl) / (K - 1) * (1 - share), cl the consensus likelihood).
* ``none`` -- no evidence at all (neither argument, or n == 0, or a single class): nothing is flagged.

In the two annotation paths the flags come from the same confident-learning pruning applied to the
posterior (so flags are calibrated per class in every path; cleanlab's multi-annotator function only
scores); examples with neither a model row nor an annotation carry no evidence, keep quality 1 and are
never flagged. Quality is the self-confidence (default) or the normalized margin
(p[label] - max other + 1) / 2 of whichever probabilities the path has.

Output
------
`LabelIssues`: ``order`` (issues first, each group by increasing quality, ties by index), ``quality``
in [0, 1] (lower = more likely wrong), ``is_issue``, ``suggested`` (the most likely true label, the
argmax of the probabilities or posterior), ``reason`` (``REASON_*`` codes, why the evidence doubts the
current label, given for every example), plus the method and the weights used. Bad input raises
``ValueError`` naming the argument and the first offending position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# Why the evidence doubts the current label, one code per example (the product words them in one
# place). Where several apply the first in this order wins: 3, 2, 1, 4, 5; a flagged example that none
# of them explains gets 6.
REASON_NONE = 0  # nothing speaks against the current label
REASON_MODEL_DISAGREES_CONFIDENTLY = 1  # the model's probability of another class reaches its threshold
REASON_RATERS_DISAGREE = 2  # most raters chose one other label (one rater: that rater did)
REASON_MODEL_AND_RATERS_DISAGREE = 3  # both of the above
REASON_RATERS_SPLIT = 4  # two or more raters, and the current label has no strict majority among them
REASON_MODEL_UNSURE = 5  # the model gives the label less than its threshold, or prefers another class
REASON_WEIGHTED_EVIDENCE_DISAGREES = 6  # no one source decides, the reliability-weighted whole does
REASONS = (0, 1, 2, 3, 4, 5, 6)

METHOD_NONE = "none"
METHOD_CONFIDENT_LEARNING = "confident_learning"
METHOD_CROWDLAB = "crowdlab"
METHOD_WEIGHTED_VOTE = "weighted_vote"

RANK_BY = ("self_confidence", "normalized_margin")

PROB_SUM_TOLERANCE = 1e-3
_EPS = 1e-6  # cleanlab's FLOATING_POINT_COMPARISON and CLIPPING_LOWER_BOUND
_MISSING_CLASS_THRESHOLD = 2.0  # a class nobody was labeled with: no probability reaches it
_TINY = 1e-100


@dataclass(frozen=True)
class LabelIssues:
    """The ranking. Arrays are aligned with the input rows except ``order`` (row indices)."""

    order: np.ndarray  # (n,) intp: flagged rows first, each group by increasing quality
    quality: np.ndarray  # (n,) float64 in [0, 1]
    is_issue: np.ndarray  # (n,) bool
    suggested: np.ndarray  # (n,) intp: most likely true label
    reason: np.ndarray  # (n,) int8: REASON_* code
    method: str  # METHOD_* code
    model_weight: float | None = None  # CROWDLAB's weight of the model (None without both inputs)
    annotator_weight: np.ndarray | None = None  # (R,) weight of each rater column (None without annotations)

    @property
    def n_issues(self) -> int:
        return int(self.is_issue.sum())

    def top(self, k: int) -> np.ndarray:
        """Up to ``k`` flagged rows, most likely wrong first."""
        return self.order[: min(int(k), self.n_issues)]


# --------------------------------------------------------------------------------------------------
# Validation


def _as_labels(labels: Any, n_classes: Any) -> tuple[np.ndarray, int]:
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise ValueError(f"n_classes must be an integer >= 1, got {n_classes!r}")
    k = int(n_classes)
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"labels must be one-dimensional (n,), got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"labels must be integer codes, got dtype {arr.dtype}")
    arr = arr.astype(np.intp, copy=False)
    bad = np.flatnonzero((arr < 0) | (arr >= k))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"labels[{i}] = {int(arr[i])} is outside 0..{k - 1}")
    return arr, k


def _as_probs(pred_probs: Any, n: int, k: int) -> np.ndarray | None:
    if pred_probs is None:
        return None
    p = np.asarray(pred_probs)
    if p.ndim != 2 or p.shape != (n, k):
        raise ValueError(f"pred_probs must have shape (n, n_classes) = ({n}, {k}), got {p.shape}")
    if p.size and not (np.issubdtype(p.dtype, np.floating) or np.issubdtype(p.dtype, np.integer)):
        raise ValueError(f"pred_probs must be numbers, got dtype {p.dtype}")
    p = p.astype(np.float64, copy=False)
    if n == 0:
        return p
    lo, hi = p.min(), p.max()  # NaN propagates: one pass each decides the common, valid case
    if not (lo >= 0.0 and hi <= 1.0):
        bad_rows = ~np.isfinite(p).all(axis=1) | (p.min(axis=1) < 0.0) | (p.max(axis=1) > 1.0)
        i = int(np.flatnonzero(bad_rows)[0])
        j = int(np.flatnonzero(~np.isfinite(p[i]) | (p[i] < 0) | (p[i] > 1))[0])
        raise ValueError(f"pred_probs[{i}, {j}] = {float(p[i, j])!r} is not a probability in [0, 1]")
    sums = p.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1.0) > PROB_SUM_TOLERANCE)
    if off.size:
        i = int(off[0])
        raise ValueError(f"pred_probs row {i} sums to {sums[i]:.6g}, not 1 (tolerance {PROB_SUM_TOLERANCE})")
    return p


def _as_annotations(annotations: Any, n: int, k: int) -> np.ndarray | None:
    if annotations is None:
        return None
    a = np.asarray(annotations)
    if a.ndim != 2 or a.shape[0] != n:
        raise ValueError(f"annotations must have shape (n, R) = ({n}, R), got {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"annotations must be integer codes with -1 for missing, got dtype {a.dtype}")
    if a.size:
        bad = (a < -1) | (a >= k)
        if bad.any():
            i, r = (int(x) for x in np.argwhere(bad)[0])
            raise ValueError(f"annotations[{i}, {r}] = {int(a[i, r])} is outside -1..{k - 1}")
    return a


def _as_annotators(annotators: Any, ann: np.ndarray | None) -> np.ndarray | None:
    if annotators is None:
        return None
    if ann is None:
        raise ValueError("annotators needs annotations: it says who gave each of them")
    who = np.asarray(annotators)
    if who.shape != ann.shape:
        raise ValueError(f"annotators must have the shape of annotations {ann.shape}, got {who.shape}")
    if who.size and not np.issubdtype(who.dtype, np.integer):
        raise ValueError(f"annotators must be integer rater codes with -1 for missing, got dtype {who.dtype}")
    if who.size == 0:
        return who
    voted = ann >= 0
    bad = (voted & (who < 0)) | (~voted & (who != -1)) | (who < -1)
    if bad.any():
        i, c = (int(x) for x in np.argwhere(bad)[0])
        raise ValueError(
            f"annotators[{i}, {c}] = {int(who[i, c])} does not fit annotations[{i}, {c}] = "
            f"{int(ann[i, c])}: a rater code >= 0 goes with every vote and -1 with every missing one"
        )
    if who.shape[1] > 1:
        ordered = np.sort(who, axis=1)
        repeated = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
        if repeated.any():
            i = int(np.flatnonzero(repeated.any(axis=1))[0])
            raise ValueError(f"annotators row {i} names the same rater twice: one vote per rater and example")
    return who


# --------------------------------------------------------------------------------------------------
# Confident learning (cleanlab's prune_by_noise_rate, vectorised)


def _round_preserving_sum(values: np.ndarray) -> np.ndarray:
    """Round to integers keeping the (rounded) total, nudging the largest residuals (as cleanlab)."""
    floats = np.asarray(values, dtype=float)
    ints = floats.round()
    target = np.sum(floats).round()
    total = np.sum(ints).round()
    while abs(total - target) > _EPS:
        diff = np.round(target - total)
        step = -1 if diff < 0 else 1
        changes = min(int(abs(diff)), len(floats))
        idx = np.argsort(floats - ints)[::-step][:changes]
        ints[idx] += step
        total = np.sum(ints).round()
    return ints.astype(np.int64)


def _round_preserving_row_totals(matrix: np.ndarray) -> np.ndarray:
    return (
        np.stack([_round_preserving_sum(row) for row in matrix]) if len(matrix) else matrix.astype(np.int64)
    )


def _class_thresholds(labels: np.ndarray, probs: np.ndarray, self_conf: np.ndarray, k: int) -> np.ndarray:
    counts = np.bincount(labels, minlength=k)
    sums = np.bincount(labels, weights=self_conf, minlength=k)
    t = np.where(counts > 0, sums / np.maximum(counts, 1), _MISSING_CLASS_THRESHOLD)
    return np.clip(t, 2 * _EPS, None)


def _confident_guess(
    probs: np.ndarray, thresholds: np.ndarray, top: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: whether any class reaches its threshold, and the confident guess of the true class
    (the argmax when several classes do, else the one that does)."""
    confident = probs >= thresholds - _EPS
    n_conf = confident.sum(axis=1)
    top = probs.argmax(axis=1) if top is None else top
    guess = np.where(n_conf > 1, top, confident.argmax(axis=1))
    return n_conf > 0, guess


def _keep_at_least_one_per_class(prune: np.ndarray) -> np.ndarray:
    """cleanlab's _keep_at_least_n_per_class with n=1, frac_noise=1 (columns = given labels)."""
    diag = np.diagonal(prune)
    new_diag = np.maximum(diag, 1)
    per_col = (new_diag - diag) / np.maximum(np.count_nonzero(prune, axis=0) - 1.0, 1.0)
    new = prune - per_col
    new[new < 0] = 0
    np.fill_diagonal(new, new_diag)
    return _round_preserving_row_totals(new.astype(np.int64))


def _confident_learning(
    labels: np.ndarray,
    probs: np.ndarray,
    k: int,
    top: np.ndarray | None = None,
    confident: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Flags as cleanlab's find_label_issues(filter_by='prune_by_noise_rate'). ``top`` (argmax) and
    ``confident`` (`_confident_guess`) may be passed in when the caller already has them."""
    n = len(labels)
    flags = np.zeros(n, dtype=bool)
    if n == 0 or k < 2:
        return flags
    if confident is None:
        thresholds = _class_thresholds(labels, probs, probs[np.arange(n), labels], k)
        confident = _confident_guess(probs, thresholds, top)
    has, guess = confident
    joint = np.bincount(labels[has] * k + guess[has], minlength=k * k).reshape(k, k)  # [given, true]
    np.fill_diagonal(joint, np.maximum(joint.diagonal(), 1))
    label_counts = np.bincount(labels, minlength=k)
    calibrated = (joint.T / np.clip(joint.sum(axis=1), _TINY, None) * label_counts).T
    calibrated = calibrated / np.clip(calibrated.sum(), _TINY, None) * n
    prune = _keep_at_least_one_per_class(_round_preserving_row_totals(calibrated).T)  # [true, given]
    small = labels.astype(np.uint16) if k <= 2**16 else labels  # stable sort of 16-bit keys is a radix sort
    by_label = np.argsort(small, kind="stable")  # rows grouped by given label, one block per class
    bounds = np.concatenate([[0], np.cumsum(label_counts)])
    for given in range(k):
        if label_counts[given] <= 1 or not (np.delete(prune[:, given], given) > 0).any():
            continue
        idx = by_label[bounds[given] : bounds[given + 1]]
        block = probs[idx]  # (n_given, K) copy: the margins below read it column by column
        p_given = block[:, given]
        for true in np.flatnonzero(prune[:, given] > 0):  # only the cells to prune: K^2 is large for big K
            m = int(prune[true, given])
            if true == given:
                continue
            if m >= len(idx):
                flags[idx] = True
            else:
                margin = block[:, true] - p_given
                flags[idx[np.argpartition(-margin, m - 1)[:m]]] = True
    # Never flag a row whose most probable class is its label (cleanlab's _reduce_issues).
    cand = np.flatnonzero(flags)
    if cand.size:
        sub = probs[cand].copy()
        sub[np.arange(cand.size), labels[cand]] += _EPS
        flags[cand[sub.argmax(axis=1) == labels[cand]]] = False
    return flags


# --------------------------------------------------------------------------------------------------
# Annotations: vote counts and CROWDLAB weights


@dataclass(frozen=True)
class _Votes:
    """The annotations as entries, one per vote, stored column by column: column c's votes are the
    slice ``bounds[c]:bounds[c + 1]``, and within a slice each row appears at most once (so plain
    fancy-index adds are exact)."""

    row: np.ndarray  # (m,) row of each vote
    rater: np.ndarray  # (m,) rater code of each vote
    cell: np.ndarray  # (m,) flat index row * K + label into an (n, K) array
    bounds: np.ndarray  # (columns + 1,) offsets of each column's slice
    counts: np.ndarray  # (n, K) votes per class (small unsigned ints)
    n_votes: np.ndarray  # (n,) votes per row
    n_raters: int


def _votes(annotations: np.ndarray, annotators: np.ndarray | None, k: int) -> _Votes:
    n, cols = annotations.shape
    index = np.int32 if n * k < 2**31 else np.int64
    per_col = [np.flatnonzero(annotations[:, c] >= 0).astype(index) for c in range(cols)]
    bounds = np.zeros(cols + 1, dtype=np.int64)
    np.cumsum([len(rows) for rows in per_col], out=bounds[1:])
    row = np.empty(bounds[-1], dtype=index)
    rater = np.empty(bounds[-1], dtype=np.int32)
    cell = np.empty(bounds[-1], dtype=index)
    counts = np.zeros(n * k, dtype=np.min_scalar_type(cols))  # small ints: no (n, K) int64 temporary
    for c, rows in enumerate(per_col):
        s, e = bounds[c], bounds[c + 1]
        row[s:e] = rows
        rater[s:e] = c if annotators is None else annotators[rows, c]
        cell[s:e] = rows * k + annotations[rows, c]
        counts[cell[s:e]] += 1
    n_raters = cols if annotators is None else int(rater.max(initial=-1)) + 1
    return _Votes(
        row=row,
        rater=rater,
        cell=cell,
        bounds=bounds,
        counts=counts.reshape(n, k),
        n_votes=np.bincount(row, minlength=n),
        n_raters=n_raters,
    )


def _rater_agreement(votes: _Votes) -> np.ndarray:
    """Per rater: the share of the other raters' votes on the same examples that match theirs, pooled
    over the examples they share (cleanlab's agreement with annotators); NaN without overlap."""
    flat = votes.counts.reshape(-1)
    num = np.zeros(votes.n_raters)
    den = np.zeros(votes.n_raters)
    for c in range(len(votes.bounds) - 1):
        s, e = votes.bounds[c], votes.bounds[c + 1]
        raters = votes.rater[s:e]
        num += np.bincount(raters, weights=flat[votes.cell[s:e]] - 1.0, minlength=votes.n_raters)
        den += np.bincount(raters, weights=votes.n_votes[votes.row[s:e]] - 1.0, minlength=votes.n_raters)
    agree = np.full(votes.n_raters, np.nan)
    np.divide(num, den, out=agree, where=den > 0)
    return agree


def _crowdlab_posterior(
    labels: np.ndarray, probs: np.ndarray | None, model_top: np.ndarray | None, votes: _Votes, k: int
) -> tuple[np.ndarray, np.ndarray, float | None, np.ndarray]:
    """Posterior (n, K) of the weighted ensemble; the rows with any evidence; model and rater weights."""
    n = len(labels)
    n_votes = votes.n_votes
    multi = n_votes >= 2
    basis = multi if multi.any() else n_votes > 0  # the rows the weights are estimated on
    label_votes = votes.counts[np.arange(n), labels]
    consensus_likelihood = float(np.mean(label_votes[basis] / n_votes[basis])) if basis.any() else 1.0
    consensus_likelihood = min(max(consensus_likelihood, 1.0 / k), 1.0)
    other_likelihood = (1.0 - consensus_likelihood) / (k - 1)
    base_labels = labels[basis]
    mode = np.bincount(base_labels, minlength=k).argmax()
    class_error = max(float(np.mean(base_labels != mode)), _EPS)
    agree = _rater_agreement(votes)
    if np.isnan(agree).all():
        agree[:] = consensus_likelihood
    else:
        agree[np.isnan(agree)] = np.nanmean(agree)
    rater_weight = np.clip(1.0 - (1.0 - agree) / class_error, _EPS, None)

    model_weight = None
    if probs is not None:
        model_error = float(np.mean(model_top[basis] != base_labels))
        model_weight = max(1.0 - model_error / class_error, _EPS) * float(np.sqrt(np.mean(n_votes)))
        post = probs * model_weight
    else:
        post = np.zeros((n, k))
    # Each vote gives its rater's weight times the consensus likelihood to the chosen class and times
    # the other likelihood to every other class.
    flat = post.reshape(-1)
    rater_total = np.zeros(n)
    for c in range(len(votes.bounds) - 1):
        s, e = votes.bounds[c], votes.bounds[c + 1]
        weight = rater_weight[votes.rater[s:e]]
        flat[votes.cell[s:e]] += weight * (consensus_likelihood - other_likelihood)
        rater_total[votes.row[s:e]] += weight
    post += (rater_total * other_likelihood)[:, None]
    total = rater_total + (model_weight or 0.0)
    evidence = total > 0
    post /= np.where(evidence, total, 1.0)[:, None]
    if not evidence.all():
        silent = np.flatnonzero(~evidence)
        post[silent] = 0.0
        post[silent, labels[silent]] = 1.0  # no evidence: nothing doubts the label
    return post, evidence, model_weight, rater_weight


# --------------------------------------------------------------------------------------------------
# The ranking


def _quality(labels: np.ndarray, probs: np.ndarray, rank_by: str) -> np.ndarray:
    rows = np.arange(len(labels))
    self_conf = probs[rows, labels]
    if rank_by == "self_confidence":
        return np.clip(self_conf, 0.0, 1.0)
    others = probs.copy()
    others[rows, labels] = -np.inf
    return np.clip((self_conf - others.max(axis=1) + 1.0) / 2.0, 0.0, 1.0)


def _order(quality: np.ndarray, is_issue: np.ndarray) -> np.ndarray:
    return np.argsort(quality + np.where(is_issue, 0.0, 2.0), kind="stable")


def _empty(n: int, labels: np.ndarray) -> LabelIssues:
    return LabelIssues(
        order=np.arange(n, dtype=np.intp),
        quality=np.ones(n),
        is_issue=np.zeros(n, dtype=bool),
        suggested=labels.copy(),
        reason=np.zeros(n, dtype=np.int8),
        method=METHOD_NONE,
    )


def rank_label_issues(
    labels: Any,
    n_classes: int,
    *,
    pred_probs: Any = None,
    annotations: Any = None,
    annotators: Any = None,
    rank_by: str = "self_confidence",
) -> LabelIssues:
    """Rank the rows whose current label is most likely wrong (see the module docstring)."""
    if rank_by not in RANK_BY:
        raise ValueError(f"rank_by must be one of {RANK_BY}, got {rank_by!r}")
    labels, k = _as_labels(labels, n_classes)
    n = len(labels)
    probs = _as_probs(pred_probs, n, k)
    ann = _as_annotations(annotations, n, k)
    who = _as_annotators(annotators, ann)
    if ann is not None and (ann.shape[1] == 0 or not (ann >= 0).any()):
        ann = None  # no vote anywhere: as if no annotations were given
    if n == 0 or k == 1 or (probs is None and ann is None):
        return _empty(n, labels)

    rows = np.arange(n)
    model_against = np.zeros(n, dtype=bool)
    model_unsure = np.zeros(n, dtype=bool)
    model_top = None
    if probs is not None:
        model_top = probs.argmax(axis=1)
        self_conf = probs[rows, labels]
        thresholds = _class_thresholds(labels, probs, self_conf, k)
        model_confident = _confident_guess(probs, thresholds, model_top)
        has, guess = model_confident
        model_against = has & (guess != labels)
        model_unsure = (self_conf < thresholds[labels] - _EPS) | (model_top != labels)

    raters_against = np.zeros(n, dtype=bool)
    raters_split = np.zeros(n, dtype=bool)
    model_weight = None
    rater_weight = None
    if ann is None:
        method = METHOD_CONFIDENT_LEARNING
        post = probs
        evidence = np.ones(n, dtype=bool)
    else:
        method = METHOD_CROWDLAB if probs is not None else METHOD_WEIGHTED_VOTE
        votes = _votes(ann, who, k)
        counts, n_votes = votes.counts, votes.n_votes
        top = counts.max(axis=1)
        unique_top = (counts == top[:, None]).sum(axis=1) == 1
        label_votes = counts[rows, labels].astype(np.int64)
        raters_against = (n_votes > 0) & unique_top & (label_votes < top)
        raters_split = (n_votes >= 2) & ~raters_against & (2 * label_votes <= n_votes)
        post, evidence, model_weight, rater_weight = _crowdlab_posterior(labels, probs, model_top, votes, k)
        del votes, counts

    quality = _quality(labels, post, rank_by)
    is_issue = np.zeros(n, dtype=bool)
    if ann is None:
        is_issue = _confident_learning(labels, probs, k, model_top, model_confident)
    elif evidence.all():
        is_issue = _confident_learning(labels, post, k)
    elif evidence.any():
        sub = np.flatnonzero(evidence)
        is_issue[sub] = _confident_learning(labels[sub], post[sub], k)
    suggested = (model_top if ann is None else post.argmax(axis=1)).astype(np.intp)

    reason = np.zeros(n, dtype=np.int8)
    reason[model_unsure] = REASON_MODEL_UNSURE
    reason[raters_split] = REASON_RATERS_SPLIT
    reason[model_against] = REASON_MODEL_DISAGREES_CONFIDENTLY
    reason[raters_against] = REASON_RATERS_DISAGREE
    reason[model_against & raters_against] = REASON_MODEL_AND_RATERS_DISAGREE
    reason[is_issue & (reason == REASON_NONE)] = REASON_WEIGHTED_EVIDENCE_DISAGREES

    return LabelIssues(
        order=_order(quality, is_issue),
        quality=quality,
        is_issue=is_issue,
        suggested=suggested,
        reason=reason,
        method=method,
        model_weight=model_weight,
        annotator_weight=rater_weight,
    )
