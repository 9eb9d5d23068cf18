"""Inter-rater agreement statistics and consensus labels as pure, vectorised NumPy functions.

Input everywhere: equal-length integer arrays ``items``, ``raters``, ``labels`` (one row per annotation,
each (item, rater) pair at most once) and ``n_labels``; labels are codes ``0..n_labels-1``, ordered by
code when ``ordinal=True``. Item and rater codes may be any integers (e.g. database ids); they are
remapped internally and reported back unchanged. No Django here: the caller builds the arrays.
Results are numbers and codes only (reasons, diagnostics, verdicts); `consistency.agreement.messages`
writes the sentences people read.

Conventions shared by all coefficients
--------------------------------------
* Items with fewer than two ratings carry no information about agreement and are left out, except in
  Gwet's AC1, whose category prevalences use every rated item (as Gwet's own software, irrCAC, does).
* A degenerate input (no item with two ratings, a single rater, a single category in use, zero expected
  disagreement) gives ``Estimate(value=None, reason=<code>)``, never NaN and never an exception.
* Confidence intervals (95 %) are nonparametric percentile bootstraps over items (seeded, so reports
  are reproducible), except Cohen's kappa (Fleiss-Cohen-Everitt 1969 large-sample standard error) and
  Gwet's AC1 (Gwet's linearisation variance with a t interval, as irrCAC). Bounds are clipped to [-1, 1].
  A change between guideline versions gets a paired BCa bootstrap over the items rated under both
  (`version_comparison`); per-rater proportions get Wilson intervals.
* The bootstrap is exact but cheap: every statistic here depends on an item only through its row of
  category counts, so items are grouped into distinct count patterns and a bootstrap replicate is a
  vector of pattern multiplicities (multinomial), turning each replicate into a small matrix product.

Libraries: statsmodels gives the Wilson intervals and the Benjamini-Hochberg procedure, scipy the
exact binomial test and the distributions, pandas the as-of join of labeling rounds. The coefficients
are computed here because no well-kept library does what the report needs at its size: statsmodels'
``fleiss_kappa`` wants the same number of raters on every item and ``cohens_kappa`` one table per
call; scipy's ``bootstrap`` recomputes the statistic from resampled rows for every replicate, and its
BCa jackknife once per item (quadratic in the items); Dawid-Skene's one implementation, crowd-kit,
pulls in about 30 packages (transformers among them). krippendorff, irrCAC (Gwet's AC1) and
scikit-learn are the tests' independent references, never imported here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

DEFAULT_SEED = 20240601
DEFAULT_N_BOOT = 1000

Z95 = float(sps.norm.ppf(0.975))  # two-sided 95% normal quantile, 1.95996...

# Bound on the bootstrap weight matrix (B_chunk x n_patterns float64): about 32 MB.
_MAX_WEIGHT_CELLS = 4_000_000

# Why a figure is missing, as codes: consistency.agreement.messages words them for people.
REASON_EMPTY = "no_data"
REASON_ONE_RATER = "one_rater"
REASON_NO_OVERLAP = "no_overlap"
REASON_ONE_ITEM = "one_item"
REASON_ONE_CATEGORY = "one_category"
REASON_NO_EXPECTED_DISAGREEMENT = "no_expected_disagreement"
REASON_ONE_LABEL_SCALE = "one_label_scale"
REASON_LABEL_UNUSED = "label_unused"  # per label: no pairable rating uses it
REASON_LABEL_EVERYWHERE = "label_everywhere"  # per label: every pairable rating uses it


@dataclass(frozen=True)
class Estimate:
    """A coefficient, its 95 % interval, and why it is missing when it is (a ``REASON_*`` code)."""

    value: float | None
    ci95: tuple[float, float] | None
    reason: str | None
    n_items: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "ci95": list(self.ci95) if self.ci95 is not None else None,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class PairKappa:
    """Cohen's kappa between two raters (codes as given by the caller)."""

    rater_a: int
    rater_b: int
    n: int
    estimate: Estimate

    def to_dict(self) -> dict[str, Any]:
        return {
            "rater_a": self.rater_a,
            "rater_b": self.rater_b,
            "n": self.n,
            "value": self.estimate.value,
            "ci95": list(self.estimate.ci95) if self.estimate.ci95 is not None else None,
            "reason": self.estimate.reason,
        }


@dataclass(frozen=True)
class MajorityVote:
    """Per distinct item (sorted caller codes): winning label (-1 on a tie) and its vote share."""

    items: np.ndarray
    label: np.ndarray
    share: np.ndarray
    n_votes: np.ndarray


@dataclass(frozen=True)
class DawidSkene:
    """Result of Dawid-Skene EM. ``confusion[r, true, given]``; rows of each rater's matrix sum to 1."""

    items: np.ndarray
    posterior: np.ndarray
    map_label: np.ndarray
    raters: np.ndarray
    confusion: np.ndarray
    priors: np.ndarray
    n_iter: int
    converged: bool
    log_likelihood: float
    # The iteration limit: `converged` False with n_iter == max_iter means EM stopped before settling.
    max_iter: int = 100


# --------------------------------------------------------------------------------------------------
# Preparation


@dataclass(frozen=True)
class _Ratings:
    item_codes: np.ndarray  # caller item code per internal item index
    rater_codes: np.ndarray  # caller rater code per internal rater index
    item: np.ndarray  # internal item index per annotation
    rater: np.ndarray  # internal rater index per annotation
    label: np.ndarray
    n_labels: int
    counts: np.ndarray  # (n_items, n_labels) int64
    m: np.ndarray  # ratings per item
    # Bootstrap objects shared by the coefficients of one call, so weights are drawn once.
    cache: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def bootstrap(self, n_boot: int, seed: int | None) -> _Bootstrap:
        key = ("bootstrap", n_boot, seed)
        if key not in self.cache:
            self.cache[key] = _Bootstrap(self.counts[self.pairable], n_boot, seed)
        return self.cache[key]

    @property
    def n_raters(self) -> int:
        return len(self.rater_codes)

    @property
    def n_annotations(self) -> int:
        return len(self.label)

    @property
    def pairable(self) -> np.ndarray:
        return self.m >= 2


def _prepare(items: Any, raters: Any, labels: Any, n_labels: int) -> _Ratings:
    items = np.asarray(items).ravel()
    raters = np.asarray(raters).ravel()
    labels = np.asarray(labels).ravel()
    if not (len(items) == len(raters) == len(labels)):
        raise ValueError("items, raters and labels must have the same length")
    n_labels = int(n_labels)
    if n_labels < 1:
        raise ValueError("n_labels must be at least 1")
    if len(labels):
        if not np.issubdtype(labels.dtype, np.integer) and not np.all(np.equal(np.mod(labels, 1), 0)):
            raise ValueError("labels must be integer codes")
        labels = labels.astype(np.int64)
        if labels.min() < 0 or labels.max() >= n_labels:
            raise ValueError("labels must be codes in 0..n_labels-1")
    else:
        labels = labels.astype(np.int64)
    item_codes, item = _encode(items)
    rater_codes, rater = _encode(raters)
    n_items = len(item_codes)
    if len(item):
        pair_key = item * len(rater_codes) + rater
        if n_items * len(rater_codes) <= 8 * len(item) + 1_000_000:
            duplicated = np.bincount(pair_key).max() > 1
        else:
            pair_key = np.sort(pair_key)
            duplicated = (pair_key[1:] == pair_key[:-1]).any()
        if duplicated:
            raise ValueError("each (item, rater) pair may appear only once")
    counts = np.bincount(item * n_labels + labels, minlength=n_items * n_labels).reshape(n_items, n_labels)
    return _Ratings(
        item_codes=item_codes,
        rater_codes=rater_codes,
        item=item,
        rater=rater,
        label=labels,
        n_labels=n_labels,
        counts=counts.astype(np.int64),
        m=counts.sum(axis=1),
    )


def _encode(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and each row's index among them (np.unique, but O(n) for small ids)."""
    if len(values) and np.issubdtype(values.dtype, np.integer):
        lo, hi = int(values.min()), int(values.max())
        # Database ids are dense enough that a presence table beats sorting, and hashing too:
        # pandas.factorize(sort=True) takes 4x as long on a million ids, on every call here.
        if hi - lo <= 8 * len(values) + 1_000_000:
            shifted = (values - lo).astype(np.int64)
            present = np.bincount(shifted, minlength=hi - lo + 1) > 0
            rank = np.cumsum(present) - 1
            return np.nonzero(present)[0].astype(values.dtype) + lo, rank[shifted]
    codes, inverse = np.unique(values, return_inverse=True)
    return codes, inverse.ravel().astype(np.int64)


def _basic_reason(data: _Ratings) -> str | None:
    """Reason shared by every coefficient when the data cannot show agreement at all."""
    if data.n_annotations == 0:
        return REASON_EMPTY
    if data.n_raters < 2:
        return REASON_ONE_RATER
    n_pairable = int(data.pairable.sum())
    if n_pairable == 0:
        return REASON_NO_OVERLAP
    if n_pairable == 1:
        return REASON_ONE_ITEM
    return None


def _clip_ci(lo: float, hi: float) -> tuple[float, float]:
    return (float(np.clip(lo, -1.0, 1.0)), float(np.clip(hi, -1.0, 1.0)))


def _none(reason: str, n_items: int = 0) -> Estimate:
    return Estimate(value=None, ci95=None, reason=reason, n_items=int(n_items))


# --------------------------------------------------------------------------------------------------
# Bootstrap over items, via count patterns


class _Bootstrap:
    """Nonparametric bootstrap over items whose statistics depend only on their count rows.

    Resampling n items with replacement is the same as drawing multinomial multiplicities for the
    distinct count patterns, so each replicate reduces to ``weights @ per_pattern_statistic``.
    """

    def __init__(self, counts: np.ndarray, n_boot: int, seed: int | None) -> None:
        self.n = len(counts)
        self.n_boot = int(n_boot)
        self.seed = seed
        self.patterns, self.inverse, self.freq = _unique_rows(counts)
        self.m = self.patterns.sum(axis=1)
        self._kept: list[np.ndarray] | None = None

    @property
    def n_patterns(self) -> int:
        return len(self.patterns)

    def _weight_chunks(self) -> Iterator[np.ndarray]:
        if self._kept is not None:
            yield from self._kept
            return
        # Keep the weights for the next statistic when they fit in one chunk; otherwise redraw
        # them (same seed) rather than hold every chunk: at 100,000 items and B=1000 that would be
        # 25 chunks of 32 MB alive at once.
        first: np.ndarray | None = None
        n_chunks = 0
        for w in self._draw_weight_chunks():
            n_chunks += 1
            first = w if n_chunks == 1 else None
            yield w
        if n_chunks == 1:
            self._kept = [first]

    def _draw_weight_chunks(self) -> Iterator[np.ndarray]:
        # A fresh generator per call: every coefficient sees the same resamples, so intervals from
        # one report are coherent and reproducible.
        rng = np.random.default_rng(self.seed)
        k = self.n_patterns
        chunk = max(1, min(self.n_boot, _MAX_WEIGHT_CELLS // max(k, 1)))
        # Multinomial draws cost B*k; index draws cost B*n. Use whichever is cheaper.
        use_multinomial = k * 4 <= self.n
        p = self.freq / self.n
        # Items ordered by pattern, not by caller code, so intervals do not depend on how items are numbered.
        item_pattern = np.repeat(np.arange(k), self.freq)
        done = 0
        while done < self.n_boot:
            b = min(chunk, self.n_boot - done)
            if use_multinomial:
                w = rng.multinomial(self.n, p, size=b).astype(np.float64)
            else:
                b = max(1, min(b, _MAX_WEIGHT_CELLS // max(self.n, 1)))
                idx = rng.integers(0, self.n, size=(b, self.n))
                w = np.empty((b, k))
                # One replicate at a time: its k counters stay in cache, where one bincount over
                # b * k bins misses it on every draw (about 3x slower when k is near n).
                for row in range(b):
                    w[row] = np.bincount(item_pattern[idx[row]], minlength=k)
            done += b
            yield w

    def sums(self, per_pattern: Any) -> np.ndarray:
        """Replicate sums (n_boot, s) of a per-item statistic.

        ``per_pattern`` is either an (n_patterns, s) array or a function of a block of patterns
        returning its rows, used when the full array would be large.
        """
        out = []
        for w in self._weight_chunks():
            if callable(per_pattern):
                k = self.n_patterns
                first = np.asarray(per_pattern(self.patterns[:1]))
                width = first.shape[1]
                block = max(1, _MAX_WEIGHT_CELLS // max(width, 1))
                acc = np.zeros((len(w), width))
                for s in range(0, k, block):
                    acc += w[:, s : s + block] @ per_pattern(self.patterns[s : s + block])
                out.append(acc)
            else:
                out.append(w @ per_pattern)
        return np.concatenate(out, axis=0)


def _unique_rows(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, q = counts.shape
    if n == 0:
        return counts, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    base = int(counts.max()) + 1
    # Mixed-radix keys are far faster than np.unique(axis=0) when they fit in int64.
    if q * np.log2(max(base, 2)) < 62:
        radix = base ** np.arange(q, dtype=np.int64)
        keys = counts @ radix
        _, first, inverse, freq = np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
        return counts[first], inverse.ravel(), freq
    patterns, inverse, freq = np.unique(counts, axis=0, return_inverse=True, return_counts=True)
    return patterns, inverse.ravel(), freq


def _percentile_ci(replicates: np.ndarray, bound: float = 1.0) -> tuple[float, float] | None:
    """95% percentile interval of bootstrap replicates, clipped to [-bound, bound]."""
    finite = replicates[np.isfinite(replicates)]
    # A replicate can be undefined (e.g. a resample with a single category); if most are, the
    # interval would describe a different population, so give none.
    if len(finite) < max(2, 0.5 * len(replicates)):
        return None
    lo, hi = np.percentile(finite, [2.5, 97.5])
    return (float(np.clip(lo, -bound, bound)), float(np.clip(hi, -bound, bound)))


# --------------------------------------------------------------------------------------------------
# Coefficient kernels (work on a _Ratings)


def _percent_agreement(data: _Ratings, n_boot: int, seed: int | None) -> Estimate:
    reason = _basic_reason(data)
    if reason:
        return _none(reason)
    c = data.counts[data.pairable]
    n_items = len(c)

    def per_item(cc: np.ndarray) -> np.ndarray:
        m = cc.sum(axis=1)
        return (cc * (cc - 1)).sum(axis=1) / (m * (m - 1))

    value = float(per_item(c).mean())
    ci = None
    if n_items >= 2 and n_boot > 0:
        boot = data.bootstrap(n_boot, seed)
        s = boot.sums(np.column_stack([per_item(boot.patterns), np.ones(boot.n_patterns)]))
        ci = _percentile_ci(s[:, 0] / s[:, 1])
    return Estimate(value=value, ci95=ci, reason=None, n_items=n_items)


def _fleiss_from_sums(pi_sum: np.ndarray, n: np.ndarray, cat: np.ndarray) -> np.ndarray:
    """Generalised Fleiss kappa from (replicate) sums: sum of P_i, number of items, category totals."""
    p_bar = pi_sum / n
    p = cat / cat.sum(axis=-1, keepdims=True)
    pe = (p**2).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = (p_bar - pe) / (1 - pe)
    return np.where(pe < 1 - 1e-12, k, np.nan)


def _fleiss_kappa(data: _Ratings, n_boot: int, seed: int | None) -> Estimate:
    reason = _basic_reason(data)
    if reason:
        return _none(reason)
    c = data.counts[data.pairable]
    n_items = len(c)
    if (c.sum(axis=0) > 0).sum() < 2:
        return _none(REASON_ONE_CATEGORY, n_items)

    def per_item(cc: np.ndarray) -> np.ndarray:
        m = cc.sum(axis=1)
        return (cc * (cc - 1)).sum(axis=1) / (m * (m - 1))

    value = float(_fleiss_from_sums(per_item(c).sum(), np.float64(n_items), c.sum(axis=0).astype(float)))
    ci = None
    if n_items >= 2 and n_boot > 0:
        boot = data.bootstrap(n_boot, seed)
        s = boot.sums(np.column_stack([per_item(boot.patterns), np.ones(boot.n_patterns), boot.patterns]))
        ci = _percentile_ci(_fleiss_from_sums(s[:, 0], s[:, 1], s[:, 2:]))
    return Estimate(value=value, ci95=ci, reason=None, n_items=n_items)


def _ordinal_delta(marginals: np.ndarray) -> np.ndarray:
    """Krippendorff's ordinal metric for (replicate) marginals n_g: (..., q) -> (..., q, q).

    delta_ck = (sum_{g=c..k} n_g - (n_c + n_k)/2)^2 equals the squared distance between the
    categories' mid-ranks, which is how it is computed here.
    """
    mid = np.cumsum(marginals, axis=-1) - marginals / 2.0
    return (mid[..., :, None] - mid[..., None, :]) ** 2


def _coincidence_rows(cc: np.ndarray) -> np.ndarray:
    """Per item: its contribution C_c C_k / (m-1) to the coincidence matrix, flattened (diagonal
    included; the metrics' diagonal is zero)."""
    cc = cc.astype(np.float64)
    m = cc.sum(axis=1)
    return (cc[:, :, None] * cc[:, None, :] / (m - 1)[:, None, None]).reshape(len(cc), -1)


def _alpha_from(o: np.ndarray, nc: np.ndarray, q: int, ordinal: bool) -> np.ndarray:
    """Krippendorff's alpha from (replicate) coincidence sums `o` (..., q*q) and marginals `nc` (..., q)."""
    n = nc.sum(axis=-1)
    delta = _ordinal_delta(nc) if ordinal else np.broadcast_to(1.0 - np.eye(q), nc.shape[:-1] + (q, q))
    do = (o.reshape(nc.shape[:-1] + (q, q)) * delta).sum(axis=(-1, -2))
    de = (nc[..., :, None] * nc[..., None, :] * delta).sum(axis=(-1, -2))
    with np.errstate(divide="ignore", invalid="ignore"):
        a = 1.0 - (n - 1) * do / de
    return np.where(de > 0, a, np.nan)


def _krippendorff_alpha(data: _Ratings, ordinal: bool, n_boot: int, seed: int | None) -> Estimate:
    reason = _basic_reason(data)
    if reason:
        return _none(reason)
    c = data.counts[data.pairable].astype(np.float64)
    n_items = len(c)
    marg = c.sum(axis=0)
    if (marg > 0).sum() < 2:
        return _none(REASON_ONE_CATEGORY, n_items)
    q = data.n_labels
    m = c.sum(axis=1)
    o = (c / (m - 1)[:, None]).T @ c
    value = _alpha_from(o.ravel(), marg, q, ordinal)
    if not np.isfinite(value):
        return _none(REASON_NO_EXPECTED_DISAGREEMENT, n_items)
    ci = None
    if n_items >= 2 and n_boot > 0:
        boot = data.bootstrap(n_boot, seed)
        if boot.n_patterns * q * q <= _MAX_WEIGHT_CELLS:
            s_o = boot.sums(_coincidence_rows(boot.patterns))
        else:
            s_o = boot.sums(_coincidence_rows)
        s_n = boot.sums(boot.patterns.astype(np.float64))
        ci = _percentile_ci(_alpha_from(s_o, s_n, q, ordinal))
    return Estimate(value=float(value), ci95=ci, reason=None, n_items=n_items)


def _gwet_ac1(data: _Ratings) -> Estimate:
    reason = _basic_reason(data)
    if reason:
        return _none(reason)
    q = data.n_labels
    if q < 2:
        return _none(REASON_ONE_LABEL_SCALE, int(data.pairable.sum()))
    c = data.counts.astype(np.float64)  # every rated item: Gwet's prevalences use them all
    n = len(c)
    r = c.sum(axis=1)
    two = r >= 2
    n2 = int(two.sum())
    den = r * (r - 1)
    pa_i = np.zeros(n)
    pa_i[two] = (c[two] * (c[two] - 1)).sum(axis=1) / den[two]
    pa = pa_i[two].mean()
    pi = (c / r[:, None]).mean(axis=0)
    pe = float((pi * (1 - pi)).sum() / (q - 1))
    if pe >= 1 - 1e-12:
        return _none(REASON_NO_EXPECTED_DISAGREEMENT, n2)
    ac1 = (pa - pe) / (1 - pe)
    # Gwet (2008) linearised variance, as in Gwet's AgreeStat / irrCAC.
    ac1_i = (n / n2) * (pa_i - pe * two) / (1 - pe)
    pe_i = (c @ (1 - pi)) / r / (q - 1)
    ac1_ix = ac1_i - 2 * (1 - ac1) * (pe_i - pe) / (1 - pe)
    ci = None
    if n >= 2:
        se = float(np.sqrt(((ac1_ix - ac1) ** 2).sum() / (n * (n - 1))))
        if se > 0:
            t = sps.t.ppf(0.975, df=n - 1)
            ci = _clip_ci(ac1 - t * se, ac1 + t * se)
        else:
            ci = _clip_ci(ac1, ac1)
    return Estimate(value=float(ac1), ci95=ci, reason=None, n_items=n2)


def _pair_tables(data: _Ratings) -> tuple[np.ndarray, np.ndarray]:
    """Contingency tables of every rater pair that shares an item.

    Returns (pair_keys, tables): pair key = rater_a * n_raters + rater_b with rater_a < rater_b
    (internal indices), tables (n_pairs, q, q) int64 with rows = rater_a's label.
    """
    q, r = data.n_labels, data.n_raters
    order = np.lexsort((data.rater, data.item))
    it, ra, la = data.item[order], data.rater[order], data.label[order]
    end = np.cumsum(data.m)[it]  # one past the last annotation of the row's item
    n_cells = r * r * q * q
    dense = n_cells <= _MAX_WEIGHT_CELLS
    acc = np.zeros(n_cells if dense else 0, dtype=np.int64)
    parts: list[np.ndarray] = []
    idx = np.arange(len(it))
    max_m = int(data.m.max()) if len(data.m) else 0
    # Loop over the offset within an item (at most the number of raters), never over annotations.
    # Rows are sorted by rater inside an item, so row i and row i+k give rater_a < rater_b.
    for k in range(1, max_m):
        i = idx[idx + k < end]
        j = i + k
        cell = ((ra[i] * r + ra[j]) * q + la[i]) * q + la[j]
        if dense:
            acc += np.bincount(cell, minlength=n_cells)
        else:
            parts.append(cell)
    if dense:
        nz = np.nonzero(acc)[0]
        cells, counts = nz, acc[nz]
    elif parts:
        cells, counts = np.unique(np.concatenate(parts), return_counts=True)
    else:
        cells = counts = np.zeros(0, dtype=np.int64)
    pair_keys, pid = np.unique(cells // (q * q), return_inverse=True)
    tables = np.zeros((len(pair_keys), q * q), dtype=np.int64)
    tables[pid.ravel(), cells % (q * q)] = counts
    return pair_keys, tables.reshape(-1, q, q)


KAPPA_WEIGHTS = ("linear", "quadratic")


def _agreement_weights(q: int, ordinal: bool, weights: str = "quadratic") -> np.ndarray:
    """Agreement weights w_ij: identity for nominal labels; for ordinal ones 1 - |i-j|/(q-1)
    (linear, Cicchetti & Allison 1971) or 1 - (i-j)^2/(q-1)^2 (quadratic, Fleiss & Cohen 1973)."""
    if not ordinal or q < 2:
        return np.eye(q)
    if weights not in KAPPA_WEIGHTS:
        raise ValueError(f"weights must be one of {', '.join(KAPPA_WEIGHTS)}")
    d = np.abs(np.subtract.outer(np.arange(q), np.arange(q))) / (q - 1)
    return 1.0 - (d if weights == "linear" else d**2)


def _cohen_kappa_pairs(data: _Ratings, ordinal: bool, weights: str = "quadratic") -> list[PairKappa]:
    if data.n_raters < 2 or data.n_annotations == 0:
        return []
    q = data.n_labels
    keys, tables = _pair_tables(data)
    n = tables.sum(axis=(1, 2)).astype(np.float64)
    keep = n >= 2
    tables, keys, n = tables[keep], keys[keep], n[keep]
    if len(keys) == 0:
        return []
    w = _agreement_weights(q, ordinal, weights)
    p = tables / n[:, None, None]
    row = p.sum(axis=2)
    col = p.sum(axis=1)
    po = (p * w).sum(axis=(1, 2))
    pe = np.einsum("pi,pj,ij->p", row, col, w)
    ok = pe < 1 - 1e-12
    # Every pair at once: statsmodels' cohens_kappa (the tests' reference, with sklearn) takes one
    # table per call, about 0.6 ms each: 0.7 s for the 1,225 pairs of 50 raters, against a few ms here.
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(ok, (po - pe) / (1 - pe), np.nan)
        # Fleiss, Cohen & Everitt (1969) large-sample variance of (weighted) kappa.
        w_row = col @ w.T  # w̄_i. = sum_j p_.j w_ij
        w_col = row @ w  # w̄_.j = sum_i p_i. w_ij
        dev = w[None] - (w_row[:, :, None] + w_col[:, None, :]) * (1 - kappa)[:, None, None]
        var = ((p * dev**2).sum(axis=(1, 2)) - (kappa - pe * (1 - kappa)) ** 2) / (n * (1 - pe) ** 2)
    se = np.sqrt(np.clip(var, 0.0, None))
    out = []
    for idx in range(len(keys)):
        a, b = divmod(int(keys[idx]), data.n_raters)
        if not ok[idx]:
            reason = (
                REASON_ONE_CATEGORY
                if ((tables[idx].sum(0) + tables[idx].sum(1)) > 0).sum() < 2
                else REASON_NO_EXPECTED_DISAGREEMENT
            )
            est = _none(reason, int(n[idx]))
        else:
            k = float(kappa[idx])
            ci = _clip_ci(k - Z95 * se[idx], k + Z95 * se[idx])
            est = Estimate(value=k, ci95=ci, reason=None, n_items=int(n[idx]))
        out.append(
            PairKappa(
                rater_a=_py(data.rater_codes[a]),
                rater_b=_py(data.rater_codes[b]),
                n=int(n[idx]),
                estimate=est,
            )
        )
    return out


def _py(v: Any) -> Any:
    """NumPy scalar -> plain Python value, so results are JSON-ready."""
    return v.item() if hasattr(v, "item") else v


def _per_label(data: _Ratings, n_boot: int, seed: int | None) -> list[dict[str, Any]]:
    q = data.n_labels
    all_counts = data.counts.sum(axis=0)
    c = data.counts[data.pairable]
    base = _basic_reason(data)
    n_items = len(c)

    def per_item(cc: np.ndarray) -> np.ndarray:
        cc = cc.astype(np.float64)
        m = cc.sum(axis=1)
        return cc * (m[:, None] - cc) / (m * (m - 1))[:, None]

    def kappa_j(dis_sum: np.ndarray, cat: np.ndarray) -> np.ndarray:
        # Fleiss (1971) kappa_j = 1 - mean_i[n_ij(m_i-n_ij)/(m_i(m_i-1))] / (p_j(1-p_j)).
        p = cat / cat.sum(axis=-1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(p * (1 - p) > 0, 1 - dis_sum / (p * (1 - p)), np.nan)

    values = np.full(q, np.nan)
    reps = None
    if not base:
        marg = c.sum(axis=0).astype(np.float64)
        values = kappa_j(per_item(c).mean(axis=0), marg)
        if n_items >= 2 and n_boot > 0:
            boot = data.bootstrap(n_boot, seed)
            s = boot.sums(np.column_stack([per_item(boot.patterns), np.ones(boot.n_patterns), boot.patterns]))
            reps = kappa_j(s[:, :q] / s[:, q : q + 1], s[:, q + 1 :])
    out = []
    for j in range(q):
        if base:
            est = _none(base, n_items)
        elif not np.isfinite(values[j]):
            reason = REASON_LABEL_UNUSED if c[:, j].sum() == 0 else REASON_LABEL_EVERYWHERE
            est = _none(reason, n_items)
        else:
            ci = _percentile_ci(reps[:, j]) if reps is not None else None
            est = Estimate(value=float(values[j]), ci95=ci, reason=None, n_items=n_items)
        total = int(all_counts.sum())
        out.append(
            {
                "label": j,
                "n_ratings": int(all_counts[j]),
                "prevalence": float(all_counts[j] / total) if total else None,
                **est.to_dict(),
            }
        )
    return out


def _label_confusion(data: _Ratings) -> list[dict[str, Any]]:
    c = data.counts.astype(np.float64)
    # Off-diagonal of C^T C counts, for each label pair, rater pairs on one item that split between them.
    co = c.T @ c
    iu = np.triu_indices(data.n_labels, k=1)
    vals = co[iu].round().astype(np.int64)
    order = np.lexsort((iu[1], iu[0], -vals))
    return [
        {"label_a": int(iu[0][i]), "label_b": int(iu[1][i]), "count": int(vals[i])}
        for i in order
        if vals[i] > 0
    ]


def _loo_majority_agreement(data: _Ratings) -> tuple[np.ndarray, np.ndarray]:
    """Per rater: items where the others have a unique majority, and how many the rater matches."""
    others = data.counts.astype(np.int32)[data.item]  # int32 halves the largest temporary
    others[np.arange(len(data.label)), data.label] -= 1
    top = others.max(axis=1)
    unique_top = (others == top[:, None]).sum(axis=1) == 1
    defined = (top > 0) & unique_top
    match = defined & (others.argmax(axis=1) == data.label)
    n_def = np.bincount(data.rater[defined], minlength=data.n_raters)
    n_match = np.bincount(data.rater[match], minlength=data.n_raters)
    return n_def, n_match


def wilson_interval(successes: Any, n: Any, *, alpha: float = 0.05) -> np.ndarray:
    """Wilson score interval of a proportion (95% by default), elementwise: (..., 2), NaN where n is 0.

    Unlike the normal approximation it stays inside [0, 1] and keeps its coverage near 0 and 1
    and with few trials (Wilson 1927; Brown, Cai & DasGupta 2001). statsmodels computes it."""
    s = np.asarray(successes, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):  # n == 0 gives NaN, masked below
        low, high = proportion_confint(s, n, alpha=alpha, method="wilson")
    out = np.stack([np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)], axis=-1)
    return np.where((n > 0)[..., None], out, np.nan)


def _share(successes: int, n: int, interval: np.ndarray) -> dict[str, Any]:
    """A proportion as JSON: its value, Wilson interval and the number it rests on."""
    if not n:
        return {"value": None, "ci95": None, "n": 0}
    return {"value": successes / n, "ci95": [float(interval[0]), float(interval[1])], "n": int(n)}


def _gold_arrays(gold: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """Gold as (items, labels, judges): judges (who decided each gold label) may be None."""
    if gold is None:
        return None
    if isinstance(gold, Mapping):
        empty = np.zeros(0, dtype=np.int64)
        if not gold:
            return empty, empty, None
        values = list(gold.values())
        items = np.asarray(list(gold.keys()))
        judged = [isinstance(v, tuple | list) for v in values]
        labels = np.asarray([v[0] if j else v for v, j in zip(values, judged, strict=True)], dtype=np.int64)
        if not any(judged):
            return items, labels, None
        # Who decided each gold label (None where unknown): compared only on the rows with gold.
        judges = np.empty(len(values), dtype=object)
        judges[:] = [v[1] if j else None for v, j in zip(values, judged, strict=True)]
        return items, labels, judges
    g_items, g_labels, *g_judges = gold
    judges = np.asarray(g_judges[0]).ravel() if g_judges else None
    return np.asarray(g_items).ravel(), np.asarray(g_labels).ravel().astype(np.int64), judges


def _agreement_with_sme(data: _Ratings, gold: Any) -> list[dict[str, Any]]:
    """Per rater: agreement with the SME's label on the items an SME decided, overall and per
    SME label, each with a Wilson interval. A rater's labels on items they decided themselves are
    not scored (their own resolution is not a test of them)."""
    r, q = data.n_raters, data.n_labels
    gold_arr = _gold_arrays(gold)
    has = np.zeros(data.n_annotations, dtype=bool)
    truth = np.full(data.n_annotations, -1, dtype=np.int64)
    if gold_arr is not None and len(gold_arr[0]) and data.n_annotations:
        g_items, g_labels, g_judges = gold_arr
        # Each annotation's gold label (if any) without a Python dict lookup per row.
        order = np.argsort(g_items, kind="stable")
        gi, gl = g_items[order], g_labels[order]
        item_code = data.item_codes[data.item]
        pos = np.clip(np.searchsorted(gi, item_code), 0, len(gi) - 1)
        has = gi[pos] == item_code
        truth = np.where(has, gl[pos], -1)
        if g_judges is not None:
            rows = np.nonzero(has)[0]
            own = data.rater_codes[data.rater[rows]].astype(object) == g_judges[order][pos[rows]]
            has[rows[own.astype(bool)]] = False
    hit = has & (truth == data.label)
    n = np.bincount(data.rater[has], minlength=r)
    hits = np.bincount(data.rater[hit], minlength=r)
    cell = data.rater * q + np.clip(truth, 0, None)
    n_cell = np.bincount(cell[has], minlength=r * q).reshape(r, q)
    hit_cell = np.bincount(cell[hit], minlength=r * q).reshape(r, q)
    return sme_agreement_rows(hits, n, hit_cell, n_cell)


def sme_scored_rows(
    data: _Ratings, gold: Mapping[Any, tuple[Any, Any]] | None
) -> Iterator[tuple[int, int, Any]]:
    """(annotation row, rater index, the SME's answer) for each annotation on an item an SME
    decided, where `gold` maps items to (answer, the SME's rater code or None); a rater's own
    decision is not a test of them, so their annotation on it is left out. For answers that are
    not single labels (sets, spans), whose agreement each kind counts its own way."""
    if not gold or not data.n_annotations:
        return
    item_code = data.item_codes[data.item]
    keys = np.fromiter(gold.keys(), dtype=item_code.dtype, count=len(gold))
    for row in np.nonzero(np.isin(item_code, keys))[0]:
        truth, judge = gold[item_code[row].item()]
        i = int(data.rater[row])
        if judge is None or _py(data.rater_codes[i]) != judge:
            yield int(row), i, truth


def sme_agreement_rows(
    hits: np.ndarray, n: np.ndarray, hit_cell: np.ndarray, n_cell: np.ndarray
) -> list[dict[str, Any]]:
    """Per rater i: `hits[i]` of `n[i]` answers agreed with the SME's, and per SME label j
    `hit_cell[i, j]` of `n_cell[i, j]`; each share with its Wilson interval (JSON rows). Shared by
    single labels, label sets and spans, which count their agreements their own way."""
    r, q = n_cell.shape
    overall, per_cell = wilson_interval(hits, n), wilson_interval(hit_cell, n_cell)
    out = []
    for i in range(r):
        per_label = [
            {"label": j, **_share(int(hit_cell[i, j]), int(n_cell[i, j]), per_cell[i, j])}
            for j in range(q)
            if n_cell[i, j]
        ]
        out.append({**_share(int(hits[i]), int(n[i]), overall[i]), "per_label": per_label})
    return out


def _per_rater(data: _Ratings, pairs: list[PairKappa], gold: Any) -> list[dict[str, Any]]:
    r = data.n_raters
    n_ann = np.bincount(data.rater, minlength=r)
    code_index = {_py(code): i for i, code in enumerate(data.rater_codes)}
    k_sum = np.zeros(r)
    k_n = np.zeros(r, dtype=np.int64)
    for pk in pairs:
        if pk.estimate.value is None:
            continue
        for code in (pk.rater_a, pk.rater_b):
            k_sum[code_index[code]] += pk.estimate.value
            k_n[code_index[code]] += 1
    if data.n_annotations:
        n_def, n_match = _loo_majority_agreement(data)
    else:
        n_def = n_match = np.zeros(r, dtype=np.int64)
    with_sme = _agreement_with_sme(data, gold)
    loo_ci = wilson_interval(n_match, n_def)
    out = []
    for i in range(r):
        out.append(
            {
                "rater": _py(data.rater_codes[i]),
                "n_annotations": int(n_ann[i]),
                "mean_kappa": float(k_sum[i] / k_n[i]) if k_n[i] else None,
                "n_kappa_pairs": int(k_n[i]),
                "loo_agreement": float(n_match[i] / n_def[i]) if n_def[i] else None,
                "loo_agreement_ci95": [float(x) for x in loo_ci[i]] if n_def[i] else None,
                "n_loo_items": int(n_def[i]),
                "n_loo_matches": int(n_match[i]),
                "agreement_with_sme_on_disputed": with_sme[i],
            }
        )
    return out


# --------------------------------------------------------------------------------------------------
# Public API: coefficients


def percent_agreement(
    items: Any,
    raters: Any,
    labels: Any,
    n_labels: int,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int | None = DEFAULT_SEED,
) -> Estimate:
    """Mean over items with >=2 ratings of the share of agreeing rater pairs on the item.

    CI: nonparametric percentile bootstrap over items.
    """
    return _percent_agreement(_prepare(items, raters, labels, n_labels), n_boot, seed)


def cohen_kappa_pairs(
    items: Any,
    raters: Any,
    labels: Any,
    n_labels: int,
    *,
    ordinal: bool = False,
    weights: str = "quadratic",
) -> list[PairKappa]:
    """Cohen's kappa for every rater pair sharing >=2 items (rater_a < rater_b by code).

    Nominal: unweighted. Ordinal: `weights` "quadratic" (1 - (i-j)^2/(q-1)^2) or "linear"
    (1 - |i-j|/(q-1)) on label codes, which equals sklearn's
    ``cohen_kappa_score(weights=weights, labels=range(n_labels))``.
    CI: kappa +/- 1.96 * the Fleiss, Cohen & Everitt (1969) large-sample standard error.
    """
    return _cohen_kappa_pairs(_prepare(items, raters, labels, n_labels), ordinal, weights)


def fleiss_kappa(
    items: Any,
    raters: Any,
    labels: Any,
    n_labels: int,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int | None = DEFAULT_SEED,
) -> Estimate:
    """Fleiss' kappa, generalised to a varying number of raters per item.

    Over items with m_i >= 2 ratings: P_i = sum_j n_ij(n_ij-1) / (m_i(m_i-1)), P_bar = mean P_i,
    p_j = share of category j among those items' ratings, P_e = sum p_j^2,
    kappa = (P_bar - P_e) / (1 - P_e). Equals Fleiss (1971) / statsmodels when m_i is constant.
    CI: percentile bootstrap over items.
    """
    return _fleiss_kappa(_prepare(items, raters, labels, n_labels), n_boot, seed)


def krippendorff_alpha(
    items: Any,
    raters: Any,
    labels: Any,
    n_labels: int,
    *,
    ordinal: bool = False,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int | None = DEFAULT_SEED,
) -> Estimate:
    """Krippendorff's alpha (nominal or ordinal metric) from the coincidence matrix.

    Units with fewer than two ratings are not pairable and contribute nothing. CI: percentile
    bootstrap over units (the ordinal metric is recomputed in every replicate).
    """
    return _krippendorff_alpha(_prepare(items, raters, labels, n_labels), ordinal, n_boot, seed)


def gwet_ac1(items: Any, raters: Any, labels: Any, n_labels: int) -> Estimate:
    """Gwet's AC1 for any number of raters per item (Gwet 2008, 2014).

    pa = mean over items with >=2 ratings of the share of agreeing pairs; pi_k = mean over all rated
    items of n_ik/m_i; pe = sum_k pi_k(1-pi_k)/(q-1) with q = n_labels. Matches irrCAC
    ``CAC(df, categories=range(n_labels)).gwet()`` including its variance and t interval.
    Unweighted even for ordinal labels.
    """
    return _gwet_ac1(_prepare(items, raters, labels, n_labels))


def per_label(
    items: Any,
    raters: Any,
    labels: Any,
    n_labels: int,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int | None = DEFAULT_SEED,
) -> list[dict[str, Any]]:
    """Category-wise kappa (Fleiss 1971 kappa_j, generalised to varying raters), one dict per label:
    {"label", "n_ratings", "prevalence", "value", "ci95", "reason"}.
    """
    return _per_label(_prepare(items, raters, labels, n_labels), n_boot, seed)


def label_confusion(items: Any, raters: Any, labels: Any, n_labels: int) -> list[dict[str, Any]]:
    """For each unordered pair of different labels, how many rater pairs on one item split between them.

    List of {"label_a", "label_b", "count"} (label_a < label_b, count > 0), most confused first.
    """
    return _label_confusion(_prepare(items, raters, labels, n_labels))


def per_rater(
    items: Any,
    raters: Any,
    labels: Any,
    n_labels: int,
    *,
    ordinal: bool = False,
    weights: str = "quadratic",
    gold: Any = None,
) -> list[dict[str, Any]]:
    """One dict per rater (caller codes), see ``agreement_summary`` for the keys.

    ``gold`` holds the SME's labels of the items an SME decided: a mapping item code -> label code
    or -> (label code, SME's rater code), or arrays (gold_items, gold_labels[, gold_smes]). With
    the SME given, a rater's labels on items they decided themselves are not scored.
    """
    data = _prepare(items, raters, labels, n_labels)
    return _per_rater(data, _cohen_kappa_pairs(data, ordinal, weights), gold)


def _coefficients(data: _Ratings, ordinal: bool, n_boot: int, seed: int | None) -> dict[str, Estimate]:
    return {
        "percent_agreement": _percent_agreement(data, n_boot, seed),
        "fleiss_kappa": _fleiss_kappa(data, n_boot, seed),
        "krippendorff_alpha": _krippendorff_alpha(data, ordinal, n_boot, seed),
        "gwet_ac1": _gwet_ac1(data),
    }


def coefficients(
    items: Any,
    raters: Any,
    labels: Any,
    n_labels: int,
    *,
    ordinal: bool = False,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int | None = DEFAULT_SEED,
) -> dict[str, Any]:
    """The light summary for slices: counts and the four overall coefficients (as dicts)."""
    data = _prepare(items, raters, labels, n_labels)
    est = _coefficients(data, ordinal, n_boot, seed)
    return {**_counts(data), **{k: v.to_dict() for k, v in est.items()}}


def _counts(data: _Ratings) -> dict[str, int]:
    return {
        "n_items": int(len(data.item_codes)),
        "n_items_overlap": int(data.pairable.sum()),
        "n_raters": int(data.n_raters),
        "n_annotations": int(data.n_annotations),
    }


# --------------------------------------------------------------------------------------------------
# Before and after a guideline version: the same examples, a paired bootstrap

MIN_PAIRED_ITEMS = 30
VERDICT_ROSE = "rose"
VERDICT_FELL = "fell"
VERDICT_NOT_DISTINGUISHABLE = "not_distinguishable"
COMPARED_COEFFICIENTS = ("percent_agreement", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1")
REASON_NOT_PAIRED = "not_paired"  # no example has two or more usable ratings under both versions
# The difference is undefined because the coefficient is, on one side (whose own reason says why).
REASON_UNDEFINED_BEFORE = "undefined_before"
REASON_UNDEFINED_AFTER = "undefined_after"


def latest_per_rater_and_version(items: Any, raters: Any, versions: Any, order: Any) -> np.ndarray:
    """Mask of the newest row (highest `order`, e.g. the annotation id) per (item, rater, version)."""
    items, raters = np.asarray(items).ravel(), np.asarray(raters).ravel()
    versions, order = np.asarray(versions).ravel(), np.asarray(order).ravel()
    keep = np.zeros(len(items), dtype=bool)
    if len(items) == 0:
        return keep
    o = np.lexsort((order, versions, raters, items))
    it, ra, ve = items[o], raters[o], versions[o]
    last = np.ones(len(o), dtype=bool)
    last[:-1] = (it[1:] != it[:-1]) | (ra[1:] != ra[:-1]) | (ve[1:] != ve[:-1])
    keep[o[last]] = True
    return keep


def labeling_rounds(
    items: Any, order: Any, relabel_items: Any, relabel_marks: Any, relabel_selected: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Per annotation, the labeling round it was made in, and whether that round was outcome-selected.

    An item's annotations fall into rounds: the first labeling, then one round per relabel request
    that sent the item back. A request is (item, mark, selected): `mark` is the highest annotation
    `order` (id) when it was made, so an annotation belongs to the round of the item's last request
    whose mark is below its own order. `selected` says the request chose its items by their labels
    ("the ones raters disagreed on"), which makes a fresh labeling of them look better by selection
    alone. Returns (round, selected): round is the starting request's mark, -1 for the first
    labeling, so rounds of one item sort in time.
    """
    items, order = np.asarray(items).ravel(), np.asarray(order).ravel()
    r_items, r_marks = np.asarray(relabel_items).ravel(), np.asarray(relabel_marks).ravel()
    r_selected = np.asarray(relabel_selected, dtype=bool).ravel()
    n = len(items)
    rounds = np.full(n, -1, dtype=np.int64)
    selected = np.zeros(n, dtype=bool)
    if n == 0 or len(r_items) == 0:
        return rounds, selected
    # An as-of join: each annotation meets its item's last request with a mark strictly below its
    # order (an id equal to a mark existed before the request). Of requests with one mark, the
    # last given wins. merge_asof wants both sides sorted by their keys.
    item_type = np.result_type(items.dtype, r_items.dtype)  # it needs one dtype per key on both sides
    key_type = np.result_type(order.dtype, r_marks.dtype)
    by_order = np.argsort(order, kind="stable")
    by_mark = np.argsort(r_marks, kind="stable")
    joined = pd.merge_asof(
        pd.DataFrame({"item": items[by_order].astype(item_type), "key": order[by_order].astype(key_type)}),
        pd.DataFrame(
            {
                "item": r_items[by_mark].astype(item_type),
                "key": r_marks[by_mark].astype(key_type),
                "request": by_mark,
            }
        ),
        on="key",
        by="item",
        allow_exact_matches=False,
        direction="backward",
    )
    request = joined["request"].to_numpy(dtype=np.float64, na_value=np.nan)
    found = ~np.isnan(request)
    rows, requests = by_order[found], request[found].astype(np.int64)
    rounds[rows] = r_marks[requests]
    selected[rows] = r_selected[requests]
    return rounds, selected


def _earliest_round(mask: np.ndarray, items: np.ndarray, rounds: np.ndarray, raters, order) -> np.ndarray:
    """Among the rows in `mask`: those of each item's earliest round, the newest per rater in it."""
    idx = np.nonzero(mask)[0]
    keep = np.zeros(len(items), dtype=bool)
    if len(idx) == 0:
        return keep
    codes, inverse = np.unique(items[idx], return_inverse=True)
    first = np.full(len(codes), np.iinfo(np.int64).max)
    np.minimum.at(first, inverse, rounds[idx])
    idx = idx[rounds[idx] == first[inverse]]
    # One round holds one label per rater; data from before rounds were recorded may hold more.
    newest = latest_per_rater_and_version(items[idx], raters[idx], np.zeros(len(idx)), order[idx])
    keep[idx[newest]] = True
    return keep


def _side_columns(c: np.ndarray) -> np.ndarray:
    """Per item, every sum the four coefficients need: [P_i, 1, counts, counts/m, coincidences]."""
    c = c.astype(np.float64)
    m = c.sum(axis=1)
    agreeing = (c * (c - 1)).sum(axis=1) / (m * (m - 1))
    return np.column_stack([agreeing, np.ones(len(c)), c, c / m[:, None], _coincidence_rows(c)])


def _side_values(sums: np.ndarray, q: int, ordinal: bool) -> dict[str, np.ndarray]:
    """The four coefficients from (replicate) sums of `_side_columns`; NaN where undefined."""
    p_sum, n = sums[..., 0], sums[..., 1]
    cat = sums[..., 2 : 2 + q]
    share = sums[..., 2 + q : 2 + 2 * q] / n[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        pa = p_sum / n
        if q >= 2:
            pe = (share * (1 - share)).sum(axis=-1) / (q - 1)
            ac1 = np.where(pe < 1 - 1e-12, (pa - pe) / (1 - pe), np.nan)
        else:
            ac1 = np.full(np.shape(pa), np.nan)
    two_categories = (cat > 0).sum(axis=-1) >= 2
    return {
        "percent_agreement": pa,
        "fleiss_kappa": np.where(two_categories, _fleiss_from_sums(p_sum, n, cat), np.nan),
        "krippendorff_alpha": np.where(
            two_categories, _alpha_from(sums[..., 2 + 2 * q :], cat, q, ordinal), np.nan
        ),
        "gwet_ac1": ac1,
    }


def _undefined_reason(name: str, counts: np.ndarray, q: int) -> str:
    if name == "gwet_ac1" and q < 2:
        return REASON_ONE_LABEL_SCALE
    if name != "percent_agreement" and (counts.sum(axis=0) > 0).sum() < 2:
        return REASON_ONE_CATEGORY
    return REASON_NO_EXPECTED_DISAGREEMENT


def _bca_interval(
    replicates: np.ndarray, estimate: float, jackknife: np.ndarray, weights: np.ndarray, bound: float
) -> tuple[float, float] | None:
    """95% bias-corrected and accelerated bootstrap interval (Efron 1987; Efron & Tibshirani 1993,
    ch. 14): percentile points moved by the replicates' median bias and by the skewness the
    jackknife shows. Plain percentiles undercover a little at a few dozen items; BCa less so.
    `jackknife` holds the leave-one-out estimates of distinct items, `weights` how many items each
    stands for. Falls back to plain percentiles when the correction is undefined."""
    finite = replicates[np.isfinite(replicates)]
    if len(finite) < max(2, 0.5 * len(replicates)):
        return None
    usable = np.isfinite(jackknife)
    share_below = ((finite < estimate).sum() + 0.5 * (finite == estimate).sum()) / len(finite)
    share_below = float(np.clip(share_below, 1.0 / (len(finite) + 1), len(finite) / (len(finite) + 1)))
    z0 = float(sps.norm.ppf(share_below))
    acceleration = 0.0
    if usable.all():
        spread = (weights * jackknife).sum() / weights.sum() - jackknife
        scale = (weights * spread**2).sum()
        if scale > 0:
            acceleration = float((weights * spread**3).sum() / (6.0 * scale**1.5))
    z = sps.norm.ppf([0.025, 0.975])
    denominator = 1.0 - acceleration * (z0 + z)
    if not usable.all() or (denominator <= 0).any():
        return _percentile_ci(replicates, bound)
    points = sps.norm.cdf(z0 + (z0 + z) / denominator)
    lo, hi = np.percentile(finite, 100.0 * points)
    return (float(np.clip(lo, -bound, bound)), float(np.clip(hi, -bound, bound)))


def version_comparison(
    items: Any,
    raters: Any,
    labels: Any,
    versions: Any,
    n_labels: int,
    *,
    before: int,
    after: int,
    order: Any = None,
    rounds: Any = None,
    outcome_selected: Any = None,
    ordinal: bool = False,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int | None = DEFAULT_SEED,
    min_items: int = MIN_PAIRED_ITEMS,
) -> dict[str, Any]:
    """Did agreement change from guideline version `before` to `after`, on the same items?

    Rows are annotations, superseded ones included, with their guideline `versions`, `order`
    (newest highest, e.g. the annotation id), labeling `rounds` and `outcome_selected` flags (see
    `labeling_rounds`; without them every annotation is in one round, none selected).

    Which labels count, per item: before, those of the earliest round with labels under `before`;
    after, those of the earliest round with labels under `after` that a label-blind choice started
    (the first labeling, or a relabeling of every older example or of a random sample). An item
    sent back because its raters disagreed looks better when labeled again even if nothing changed
    (regression to the mean), and so does a version's latest round after its disagreements were
    sent back again; earliest rounds and label-blind choices avoid both. The paired items have two
    or more such ratings under both versions; `n_left_out_outcome_selected` counts the items
    labeled under both versions whose only labels under `after` came from outcome-selected rounds.

    Each coefficient is computed on the paired items under each version, and the 95% interval of
    the difference (after - before) comes from a paired bootstrap over items: one resample of the
    items, both coefficients recomputed on it. The verdict comes from that interval only ("rose"
    when it lies above zero, "fell" below, else "not_distinguishable"), and is withheld
    ("not_distinguishable", `too_few`) below `min_items` paired items.

    Per coefficient: "before" and "after" ({"value", "ci95", "reason"}), "difference" (the same
    keys; its reason is REASON_NOT_PAIRED, or REASON_UNDEFINED_BEFORE/AFTER when a side's value is
    undefined, that side's reason saying why) and "verdict" (a VERDICT_* code).
    """
    items, raters = np.asarray(items).ravel(), np.asarray(raters).ravel()
    labels, versions = np.asarray(labels).ravel().astype(np.int64), np.asarray(versions).ravel()
    if not (len(items) == len(raters) == len(labels) == len(versions)):
        raise ValueError("items, raters, labels and versions must have the same length")
    order = np.arange(len(items)) if order is None else np.asarray(order).ravel()
    rounds = np.full(len(items), -1, dtype=np.int64) if rounds is None else np.asarray(rounds).ravel()
    selected = (
        np.zeros(len(items), dtype=bool)
        if outcome_selected is None
        else np.asarray(outcome_selected, dtype=bool).ravel()
    )
    q = int(n_labels)
    # Only items rated under both versions can pair: work on their rows alone.
    both = np.intersect1d(items[versions == before], items[versions == after])
    keep = np.isin(items, both)
    if not keep.all():
        items, raters, labels, versions = items[keep], raters[keep], labels[keep], versions[keep]
        order, rounds, selected = order[keep], rounds[keep], selected[keep]

    def rated_twice(mask: np.ndarray) -> np.ndarray:
        codes, n = np.unique(items[mask], return_counts=True)
        return codes[n >= 2]

    before_rows = _earliest_round(versions == before, items, rounds, raters, order)
    after_rows = _earliest_round((versions == after) & ~selected, items, rounds, raters, order)
    any_after = _earliest_round(versions == after, items, rounds, raters, order)
    # Items whose labels under `after` exist only in outcome-selected rounds: left out, and counted.
    with_before = rated_twice(before_rows)
    paired = np.intersect1d(with_before, rated_twice(after_rows))
    after_any_round = np.union1d(rated_twice(any_after), rated_twice(after_rows))
    n_left_out = len(np.setdiff1d(np.intersect1d(with_before, after_any_round), paired))
    n_paired = len(paired)
    result: dict[str, Any] = {
        "before": before,
        "after": after,
        "n_paired": int(n_paired),
        "n_left_out_outcome_selected": int(n_left_out),
        "min_paired": int(min_items),
        "too_few": bool(n_paired < min_items),
    }
    rows = (before_rows | after_rows) & np.isin(items, paired)
    index = np.searchsorted(paired, items[rows])
    counts = {}
    for name, version in (("before", before), ("after", after)):
        side = versions[rows] == version
        counts[name] = np.bincount(index[side] * q + labels[rows][side], minlength=n_paired * q).reshape(
            n_paired, q
        )
    coefficients: dict[str, Any] = {}
    if n_paired == 0:
        empty = {"value": None, "ci95": None, "reason": REASON_NOT_PAIRED}
        for name in COMPARED_COEFFICIENTS:
            coefficients[name] = {
                "before": empty,
                "after": empty,
                "difference": empty,
                "verdict": VERDICT_NOT_DISTINGUISHABLE,
            }
        return {**result, "coefficients": coefficients}
    # The bootstrap draws items by their joint (before, after) count pattern, so both sides see the
    # same resample; each side's sums then go through its own, far fewer, distinct count rows.
    boot = _Bootstrap(np.hstack([counts["before"], counts["after"]]), n_boot, seed)
    sides_of: dict[str, tuple[np.ndarray, Any]] = {}
    for side, columns in (("before", slice(0, q)), ("after", slice(q, 2 * q))):
        patterns, inverse, _ = _unique_rows(boot.patterns[:, columns])
        to_side = sparse.csr_array(
            (np.ones(boot.n_patterns), (np.arange(boot.n_patterns), inverse)),
            shape=(boot.n_patterns, len(patterns)),
        )
        sides_of[side] = (_side_columns(patterns), inverse, to_side)
    totals = {side: (boot.freq @ to_side) @ cols for side, (cols, _, to_side) in sides_of.items()}
    point = {side: _side_values(totals[side], q, ordinal) for side in totals}
    replicates = None
    if n_paired >= 2 and n_boot > 0:
        sums: dict[str, list[np.ndarray]] = {"before": [], "after": []}
        for weights in boot._weight_chunks():
            for side, (cols, _, to_side) in sides_of.items():
                sums[side].append((weights @ to_side) @ cols)
        replicates = {side: _side_values(np.concatenate(sums[side]), q, ordinal) for side in sums}
        # Jackknife (one item left out, per joint count pattern) for the BCa acceleration.
        jack = {name: np.empty(boot.n_patterns) for name in COMPARED_COEFFICIENTS}
        block = max(1, _MAX_WEIGHT_CELLS // (2 + 2 * q + q * q))
        for start in range(0, boot.n_patterns, block):
            left_out = {
                side: _side_values(totals[side] - cols[inverse[start : start + block]], q, ordinal)
                for side, (cols, inverse, _) in sides_of.items()
            }
            for name in COMPARED_COEFFICIENTS:
                jack[name][start : start + block] = left_out["after"][name] - left_out["before"][name]
    for name in COMPARED_COEFFICIENTS:
        sides = {}
        for side in ("before", "after"):
            value = float(point[side][name])
            ci = _percentile_ci(replicates[side][name]) if replicates else None
            sides[side] = (
                {"value": value, "ci95": ci, "reason": None}
                if np.isfinite(value)
                else {"value": None, "ci95": None, "reason": _undefined_reason(name, counts[side], q)}
            )
        difference: dict[str, Any] = {"value": None, "ci95": None, "reason": None}
        verdict = VERDICT_NOT_DISTINGUISHABLE
        if sides["before"]["value"] is None:
            difference["reason"] = REASON_UNDEFINED_BEFORE
        elif sides["after"]["value"] is None:
            difference["reason"] = REASON_UNDEFINED_AFTER
        else:
            difference["value"] = sides["after"]["value"] - sides["before"]["value"]
            if replicates:
                diff = replicates["after"][name] - replicates["before"][name]
                difference["ci95"] = _bca_interval(diff, difference["value"], jack[name], boot.freq, 2.0)
            ci = difference["ci95"]
            if ci is not None and n_paired >= min_items:
                if ci[0] > 0:
                    verdict = VERDICT_ROSE
                elif ci[1] < 0:
                    verdict = VERDICT_FELL
        coefficients[name] = {**sides, "difference": difference, "verdict": verdict}
    return {**result, "coefficients": coefficients}


# --------------------------------------------------------------------------------------------------
# Diagnostics

PARADOX_PREVALENCE = 0.8
PARADOX_GAP = 0.25
FEW_ITEMS = 30
WIDE_CI = 0.4
OUTLIER_GAP = 0.1  # a flagged rater agrees with the others' majority at least this much less
OUTLIER_FALSE_DISCOVERY = 0.05


def _diagnostics(
    data: _Ratings, est: dict[str, Estimate], rater_rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """What to look at, as codes with the numbers behind them (see `agreement_summary`)."""
    base = _basic_reason(data)
    if base:
        # The reason codes of data that cannot show agreement double as diagnostic codes.
        return [{"code": base}]
    out: list[dict[str, Any]] = []
    n_overlap = int(data.pairable.sum())
    if n_overlap < FEW_ITEMS:
        out.append({"code": "few_items", "n_items_overlap": n_overlap, "min_items": FEW_ITEMS})
    wide = [
        name
        for name, e in est.items()
        if e.ci95 is not None and e.ci95[1] - e.ci95[0] > WIDE_CI and name != "percent_agreement"
    ]
    if wide:
        out.append({"code": "wide_interval", "coefficients": wide, "max_width": WIDE_CI})
    c = data.counts[data.pairable].sum(axis=0)
    share = c / c.sum()
    top = int(share.argmax())
    pa = est["percent_agreement"].value
    kappa = est["fleiss_kappa"].value
    # A unanimous set has no paradox to explain: kappa is undefined (one label) or 1, not low.
    if share[top] > PARADOX_PREVALENCE and pa is not None and kappa is not None and pa - kappa > PARADOX_GAP:
        out.append(
            {
                "code": "kappa_paradox",
                "label": top,
                "prevalence": float(share[top]),
                "kappa": kappa,
                "percent_agreement": pa,
            }
        )
    out += _outlying_raters(rater_rows)
    return out


def _outlying_raters(rater_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Raters whose agreement with the others' majority is lower than the rest's, as far as the
    evidence shows it.

    Per rater: the share of items where they gave the label most of the other raters gave (items
    where the others tie are not counted), with its Wilson interval; the rest's figure pools every
    other rater's items. A rater is flagged when the exact binomial test of "as high as the rest"
    rejects it one-sided, at a false discovery rate of 5% over the raters compared
    (Benjamini-Hochberg), their 95% interval lies wholly below the rest's figure, and they are at
    least OUTLIER_GAP lower. Few items give a wide interval and no flag, however low the figure.
    """
    rows = [r for r in rater_rows if r["n_loo_items"]]
    if len(rows) < 3:
        return []
    matches = np.array([r["n_loo_matches"] for r in rows], dtype=np.int64)
    n = np.array([r["n_loo_items"] for r in rows], dtype=np.int64)
    rest = (matches.sum() - matches) / (n.sum() - n)  # every row has items, so the rest has some
    share = matches / n
    # Exact binomial tail: with a handful of items the normal approximation is far too confident.
    # One test per rater compared: a few hundred at most, well under a millisecond each.
    p_value = np.array(
        [
            sps.binomtest(int(k), int(trials), float(p), alternative="less").pvalue
            for k, trials, p in zip(matches, n, rest, strict=True)
        ]
    )
    # Of the flagged raters, about 1 in 20 at most would agree as well as the rest; when all of
    # them do, 19 studies in 20 flag nobody.
    rejected = multipletests(p_value, alpha=OUTLIER_FALSE_DISCOVERY, method="fdr_bh")[0]
    upper = wilson_interval(matches, n)[:, 1]
    flagged = np.nonzero(rejected & (upper < rest) & (share <= rest - OUTLIER_GAP))[0]
    return [
        {
            "code": "outlier_rater",
            "rater": rows[i]["rater"],
            "value": float(share[i]),
            "ci95": rows[i]["loo_agreement_ci95"],
            "n": int(n[i]),
            "rest": float(rest[i]),
            "n_raters_compared": len(rows),
        }
        for i in flagged[np.argsort(share[flagged], kind="stable")]
    ]


def diagnostics(
    items: Any,
    raters: Any,
    labels: Any,
    n_labels: int,
    *,
    ordinal: bool = False,
    weights: str = "quadratic",
    n_boot: int = DEFAULT_N_BOOT,
    seed: int | None = DEFAULT_SEED,
) -> list[dict[str, Any]]:
    """What to look at, each {"code", ...numbers}; see ``agreement_summary``."""
    data = _prepare(items, raters, labels, n_labels)
    est = _coefficients(data, ordinal, n_boot, seed)
    rows = _per_rater(data, _cohen_kappa_pairs(data, ordinal, weights), None)
    return _diagnostics(data, est, rows)


def agreement_summary(
    items: Any,
    raters: Any,
    labels: Any,
    n_labels: int,
    ordinal: bool = False,
    gold: Any = None,
    *,
    weights: str = "quadratic",
    n_boot: int = DEFAULT_N_BOOT,
    seed: int | None = DEFAULT_SEED,
) -> dict[str, Any]:
    """Everything the agreement report shows, JSON-ready. Rater and label values are codes.

    `weights` ("linear" or "quadratic") weigh Cohen's kappa for ordinal labels; `kappa_weights`
    says which (None for nominal labels, where kappa is unweighted).

    Missing figures carry a ``REASON_*`` code as their "reason". "diagnostics" lists what to look
    at, each a {"code", ...} with the numbers behind it:
    a reason code ("no_data", "one_rater", "no_overlap", "one_item") when the data cannot show
    agreement at all; "few_items" (n_items_overlap, min_items); "wide_interval" (coefficients,
    max_width); "kappa_paradox" (label, prevalence, kappa, percent_agreement); "outlier_rater"
    (rater, value, ci95, n, rest, n_raters_compared)."""
    data = _prepare(items, raters, labels, n_labels)
    est = _coefficients(data, ordinal, n_boot, seed)
    pairs = _cohen_kappa_pairs(data, ordinal, weights)
    rater_rows = _per_rater(data, pairs, gold)
    return {
        **_counts(data),
        "ordinal": bool(ordinal),
        "kappa_weights": weights if ordinal else None,
        **{k: v.to_dict() for k, v in est.items()},
        "cohen_kappa": [p.to_dict() for p in pairs],
        "per_label": _per_label(data, n_boot, seed),
        "per_rater": rater_rows,
        "label_confusion": _label_confusion(data),
        "diagnostics": _diagnostics(data, est, rater_rows),
    }


# --------------------------------------------------------------------------------------------------
# Consensus


def majority_vote(items: Any, labels: Any, n_labels: int) -> MajorityVote:
    """Plurality label per item; -1 where the top count is tied. ``share`` = top count / votes."""
    # Votes need no rater identity; give each its own so the one-vote-per-rater check holds.
    data = _prepare(items, np.arange(len(np.asarray(items).ravel())), labels, n_labels)
    c = data.counts
    if len(c) == 0:
        e = np.zeros(0, dtype=np.int64)
        return MajorityVote(items=data.item_codes, label=e, share=np.zeros(0), n_votes=e)
    top = c.max(axis=1)
    tie = (c == top[:, None]).sum(axis=1) > 1
    label = np.where(tie, -1, c.argmax(axis=1))
    return MajorityVote(items=data.item_codes, label=label, share=top / data.m, n_votes=data.m)


def dawid_skene(
    items: Any,
    raters: Any,
    labels: Any,
    n_labels: int,
    *,
    max_iter: int = 100,
    tol: float = 1e-6,
    smoothing: float = 0.01,
) -> DawidSkene:
    """Dawid & Skene (1979) EM for true labels and per-rater confusion matrices.

    Starts from majority-vote soft labels (vote shares); works in log space; ``smoothing`` is a small
    pseudo-count added to every confusion cell and prior so no probability is exactly zero.
    Convergence: largest change of any posterior probability below ``tol``. EM that has not
    converged after ``max_iter`` iterations stops there and says so (``converged`` False,
    ``n_iter`` == ``max_iter``): callers report it rather than pass the labels off as settled.
    """
    data = _prepare(items, raters, labels, n_labels)
    q, r, n = data.n_labels, data.n_raters, len(data.item_codes)
    if n == 0:
        return DawidSkene(
            items=data.item_codes,
            posterior=np.zeros((0, q)),
            map_label=np.zeros(0, dtype=np.int64),
            raters=data.rater_codes,
            confusion=np.zeros((r, q, q)),
            priors=np.full(q, 1.0 / q),
            n_iter=0,
            converged=True,
            log_likelihood=0.0,
            max_iter=max_iter,
        )
    post = data.counts / data.m[:, None]
    rl = data.rater * q + data.label  # flat (rater, given label) index per annotation
    converged = False
    n_iter = 0
    log_lik = 0.0
    conf = np.zeros((r, q, q))
    priors = np.full(q, 1.0 / q)
    while n_iter < max_iter:
        n_iter += 1
        # M-step: expected counts of (rater, true j, given l).
        t_ann = post[data.item]  # (n_ann, q)
        counts = np.empty((r, q, q))
        for j in range(q):
            counts[:, j, :] = np.bincount(rl, weights=t_ann[:, j], minlength=r * q).reshape(r, q)
        counts += smoothing
        conf = counts / counts.sum(axis=2, keepdims=True)
        priors = post.sum(axis=0) + smoothing
        priors /= priors.sum()
        # E-step: log posterior up to a constant.
        log_conf = np.log(conf)
        contrib = log_conf[data.rater, :, data.label]  # (n_ann, q): log P(given | true j)
        logp = np.empty((n, q))
        for j in range(q):
            logp[:, j] = np.bincount(data.item, weights=contrib[:, j], minlength=n)
        logp += np.log(priors)
        mx = logp.max(axis=1, keepdims=True)
        norm = mx[:, 0] + np.log(np.exp(logp - mx).sum(axis=1))
        new_post = np.exp(logp - norm[:, None])
        log_lik = float(norm.sum())
        delta = float(np.abs(new_post - post).max())
        post = new_post
        if delta < tol:
            converged = True
            break
    return DawidSkene(
        items=data.item_codes,
        posterior=post,
        map_label=post.argmax(axis=1),
        raters=data.rater_codes,
        confusion=conf,
        priors=priors,
        n_iter=n_iter,
        converged=converged,
        log_likelihood=log_lik,
        max_iter=max_iter,
    )
