"""Agreement on label sets (multi-label projects) as pure, vectorised NumPy functions.

Input: equal-length ``items`` and ``raters`` (one row per annotation, each (item, rater) pair at
most once, any integer codes) and ``label_sets``, an (n, n_labels) boolean indicator matrix (row r
holds the labels annotation r chose; an all-False row is "none of these"), or a sequence of
iterables of label codes 0..n_labels-1. No Django here; results are numbers and codes, worded by
`consistency.agreement.messages`, with the conventions of `consistency.agreement.statistics`
(items with one rating left out, ``Estimate(None, reason)`` for degenerate input, seeded
percentile bootstraps over items).

The headline is Krippendorff's alpha with the MASI distance (Passonneau 2006):
d(A, B) = 1 - J(A, B) * M(A, B), J = |A & B| / |A | B| (Jaccard; 1 for two empty sets) and
M = 1 if A == B, 2/3 if one contains the other, 1/3 if they overlap otherwise, 0 if disjoint
(as nltk's ``masi_distance``, so figures equal ``nltk.metrics.agreement.AnnotationTask`` with
it). alpha = 1 - (n - 1) * sum_u (1 / (m_u - 1)) sum_{i != j in u} d / sum_{c, k} n_c n_k d_ck
over the n ratings of the pairable items.

Why it is fast: the distance depends on a rating only through its set, so ratings become codes of
distinct sets (S of them, rarely more than a few hundred), every pair distance is a lookup in an
S x S table, and items become rows of sorted set codes, grouped into distinct patterns as the
single-label bootstrap does. A bootstrap replicate needs the resampled marginals n_c (a sparse
product) and their quadratic form with the distance table; above ``EXACT_MAX_SETS`` distinct sets
the replicates' expected disagreement uses its first-order expansion around the sample marginals
(relative error of order 1/n), and the table is never held whole.

Per label, presence/absence of that label is a two-category rating: Krippendorff's alpha (nominal)
and Fleiss' kappa with their intervals, computed by the single-label kernels.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from scipy import sparse

from consistency.agreement import statistics as st
from consistency.agreement.statistics import DEFAULT_N_BOOT, DEFAULT_SEED, Estimate

DISTANCE = "masi"
# MASI's monotonicity weights (Passonneau 2006; nltk >= 3.8 uses the exact fractions).
MASI_SUBSET = 2 / 3
MASI_OVERLAP = 1 / 3
# Up to this many distinct sets the S x S distance table is held and every bootstrap replicate's
# expected disagreement is exact (B * S^2 multiply-adds: about 1e9 at 1,000 sets).
EXACT_MAX_SETS = 1500
_BLOCK_CELLS = 4_000_000

# Why a figure is missing, beside statistics' REASON_* codes.
REASON_ONE_LABEL_SET = "one_label_set"  # every pairable rating is the same set
REASON_NOT_FOR_LABEL_SETS = "not_for_label_sets"  # a single-label coefficient with no set version


def masi_distance(inter: Any, size_a: Any, size_b: Any) -> np.ndarray:
    """MASI distance from intersection and set sizes, elementwise (two empty sets: 0)."""
    inter = np.asarray(inter, dtype=np.float64)
    size_a = np.asarray(size_a, dtype=np.float64)
    size_b = np.asarray(size_b, dtype=np.float64)
    union = size_a + size_b - inter
    monotonicity = np.where(
        (inter == size_a) & (inter == size_b),
        1.0,
        np.where(inter == np.minimum(size_a, size_b), MASI_SUBSET, np.where(inter > 0, MASI_OVERLAP, 0.0)),
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        jaccard = np.where(union > 0, inter / union, 1.0)
    return 1.0 - jaccard * monotonicity


def indicator_matrix(label_sets: Any, n_labels: int) -> np.ndarray:
    """Label sets as an (n, n_labels) boolean matrix; accepts that matrix or iterables of codes."""
    n_labels = int(n_labels)
    if isinstance(label_sets, np.ndarray) and label_sets.ndim == 2:
        if label_sets.shape[1] != n_labels:
            raise ValueError("label_sets must have n_labels columns")
        return label_sets.astype(bool, copy=False)
    rows = list(label_sets)
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    flat = np.fromiter((c for r in rows for c in r), dtype=np.int64, count=int(lengths.sum()))
    if len(flat) and (flat.min() < 0 or flat.max() >= n_labels):
        raise ValueError("label codes must be in 0..n_labels-1")
    out = np.zeros((len(rows), n_labels), dtype=bool)
    out[np.repeat(np.arange(len(rows)), lengths), flat] = True
    return out


class _Sets:
    """Ratings as codes of distinct label sets, with the MASI table between the sets."""

    def __init__(self, items: Any, raters: Any, label_sets: Any, n_labels: int) -> None:
        n = len(np.asarray(items).ravel())
        self.indicator = indicator_matrix(label_sets, n_labels)
        if len(self.indicator) != n:
            raise ValueError("items, raters and label_sets must have the same length")
        # The single-label preparation with one dummy label gives the item and rater encoding, the
        # one-rating-per-pair check and the ratings per item.
        self.base = st._prepare(items, raters, np.zeros(n, dtype=np.int64), 1)
        self.n_labels = int(n_labels)
        self.set_code, self.sets = _distinct_sets(self.indicator)
        self.sizes = self.sets.sum(axis=1).astype(np.float64)
        self._table: np.ndarray | None = None

    @property
    def n_sets(self) -> int:
        return len(self.sets)

    def table(self) -> np.ndarray | None:
        """The S x S distance table, or None when it would be too large to hold."""
        if self._table is None and self.n_sets <= EXACT_MAX_SETS:
            f = self.sets.astype(np.float64)
            inter = (f @ f.T).round().astype(np.int64)
            sizes = self.sizes.astype(np.int64)
            # The distance depends only on (|A|, |B|, |A & B|): look it up in a small cube
            # rather than evaluate it on S^2 cells (5x faster at a thousand sets).
            q1 = self.n_labels + 1
            if q1**3 <= max(self.n_sets**2, 1000):
                grid = np.indices((q1, q1, q1))
                cube = masi_distance(grid[2], grid[0], grid[1]).ravel()
                self._table = cube[(sizes[:, None] * q1 + sizes[None, :]) * q1 + inter]
            else:
                self._table = masi_distance(inter, sizes[:, None], sizes[None, :])
        return self._table

    def distance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """MASI distance between the sets coded `a` and `b` (equal-length code arrays)."""
        table = self.table()
        if table is not None:
            return table[a, b]
        out = np.empty(len(a))
        block = max(1, _BLOCK_CELLS // max(self.n_labels, 1))
        for s in range(0, len(a), block):
            aa, bb = a[s : s + block], b[s : s + block]
            inter = (self.sets[aa] & self.sets[bb]).sum(axis=1)
            out[s : s + block] = masi_distance(inter, self.sizes[aa], self.sizes[bb])
        return out

    def table_times(self, v: np.ndarray) -> np.ndarray:
        """The distance table times a vector of marginals, in blocks of rows when it is not held."""
        table = self.table()
        if table is not None:
            return table @ v
        f = self.sets.astype(np.float32)
        out = np.empty(self.n_sets)
        block = max(1, _BLOCK_CELLS // self.n_sets)
        for s in range(0, self.n_sets, block):
            inter = (f[s : s + block] @ f.T).round()
            d = masi_distance(inter, self.sizes[s : s + block, None], self.sizes[None, :])
            out[s : s + block] = d @ v
        return out


def _distinct_sets(indicator: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's code among the distinct rows, and the distinct rows (sorted by their bits)."""
    n, q = indicator.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, q), dtype=bool)
    packed = np.packbits(indicator, axis=1)
    if packed.shape[1] <= 8:
        # Up to 64 labels a set is one integer: far faster than unique rows.
        padded = np.zeros((n, 8), dtype=np.uint8)
        padded[:, : packed.shape[1]] = packed
        keys = padded.view(">u8").ravel()
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    else:
        _, first, inverse = np.unique(packed, axis=0, return_index=True, return_inverse=True)
    return inverse.ravel().astype(np.int64), indicator[first]


class _Items:
    """The pairable items as rows of their sorted set codes (and raters), -1 past their ratings."""

    def __init__(self, data: _Sets) -> None:
        base = data.base
        pairable = base.pairable
        rows = np.nonzero(pairable[base.item])[0]
        index = np.cumsum(pairable) - 1
        item = index[base.item[rows]]
        codes = data.set_code[rows]
        order = np.lexsort((codes, item))
        item, codes, raters = item[order], codes[order], base.rater[rows][order]
        m = base.m[pairable]
        self.n = len(m)
        width = int(m.max()) if len(m) else 0
        start = np.concatenate([[0], np.cumsum(m)[:-1]]).astype(np.int64)
        pos = np.arange(len(item)) - start[item]
        self.codes = np.full((self.n, width), -1, dtype=np.int64)
        self.codes[item, pos] = codes
        self.raters = np.full((self.n, width), -1, dtype=np.int64)
        self.raters[item, pos] = raters
        self.rows = rows  # the annotations of pairable items

    def column_pairs(self) -> Iterator[tuple[int, int]]:
        width = self.codes.shape[1]
        for a in range(width):
            for b in range(a + 1, width):
                yield a, b


def _pattern_columns(data: _Sets, patterns: np.ndarray) -> dict[str, Any]:
    """Per pattern (row of sorted set codes, -1 for none): ratings, the observed-disagreement term,
    the share of agreeing pairs, and the set counts as a sparse (patterns x sets) matrix."""
    k, width = patterns.shape
    m = (patterns >= 0).sum(axis=1).astype(np.float64)
    pair_d = np.zeros(k)
    pair_equal = np.zeros(k)
    for a in range(width):
        for b in range(a + 1, width):
            ok = np.nonzero((patterns[:, a] >= 0) & (patterns[:, b] >= 0))[0]
            if len(ok) == 0:
                continue
            ca, cb = patterns[ok, a], patterns[ok, b]
            pair_d[ok] += data.distance(ca, cb)
            pair_equal[ok] += ca == cb
    r, c = np.nonzero(patterns >= 0)
    counts = sparse.csr_array(
        (np.ones(len(r)), (r, patterns[r, c])), shape=(k, data.n_sets)
    )  # duplicates are summed
    return {
        "m": m,
        "do": 2.0 * pair_d / (m - 1),
        "agree": 2.0 * pair_equal / (m * (m - 1)),
        "counts": counts,
    }


def _alpha_value(n: Any, do: Any, de: Any) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.asarray(de) > 0, 1.0 - (np.asarray(n) - 1.0) * np.asarray(do) / de, np.nan)


def _set_coefficients(data: _Sets, n_boot: int, seed: int | None) -> dict[str, Estimate]:
    """MASI alpha and exact-set percent agreement, each with its bootstrap interval."""
    reason = st._basic_reason(data.base)
    if reason:
        return {"krippendorff_alpha": st._none(reason), "percent_agreement": st._none(reason)}
    items = _Items(data)
    boot = st._Bootstrap(items.codes + 1, n_boot, seed)  # 0 pads: no rating
    patterns = boot.patterns - 1
    cols = _pattern_columns(data, patterns)
    freq = boot.freq.astype(np.float64)
    n_items = items.n
    n = float(freq @ cols["m"])
    marginals = cols["counts"].T @ freq
    agree = Estimate(float(freq @ cols["agree"] / n_items), None, None, n_items)
    if (marginals > 0).sum() < 2:
        alpha = st._none(REASON_ONE_LABEL_SET, n_items)
        g = None
    else:
        g = data.table_times(marginals)
        de = float(marginals @ g)
        alpha = Estimate(float(_alpha_value(n, freq @ cols["do"], de)), None, None, n_items)
    if n_items < 2 or n_boot <= 0:
        return {"krippendorff_alpha": alpha, "percent_agreement": agree}
    table = data.table()
    reps_alpha, reps_agree = [], []
    counts_g = cols["counts"] @ g if g is not None else None
    for w in boot._weight_chunks():
        reps_agree.append((w @ cols["agree"]) / w.sum(axis=1))
        if g is None:
            continue
        n_b = w @ cols["m"]
        if table is not None:
            nc_b = (cols["counts"].T @ w.T).T
            de_b = ((nc_b @ table) * nc_b).sum(axis=1)
        else:
            de_b = 2.0 * (w @ counts_g) - de
        reps_alpha.append(_alpha_value(n_b, w @ cols["do"], de_b))
    agree = Estimate(agree.value, st._percentile_ci(np.concatenate(reps_agree), 1.0), None, n_items)
    if g is not None:
        alpha = Estimate(alpha.value, st._percentile_ci(np.concatenate(reps_alpha)), None, n_items)
    return {"krippendorff_alpha": alpha, "percent_agreement": agree}


def _presence(data: _Sets, j: int) -> st._Ratings:
    """Presence (1) or absence (0) of label j in each rating, as two-category single-label data."""
    base = data.base
    label = data.indicator[:, j].astype(np.int64)
    n_items = len(base.item_codes)
    counts = np.bincount(base.item * 2 + label, minlength=2 * n_items).reshape(n_items, 2)
    return st._Ratings(
        item_codes=base.item_codes,
        rater_codes=base.rater_codes,
        item=base.item,
        rater=base.rater,
        label=label,
        n_labels=2,
        counts=counts.astype(np.int64),
        m=base.m,
    )


def _per_label(data: _Sets, n_boot: int, seed: int | None) -> list[dict[str, Any]]:
    """Per label: presence/absence agreement (Krippendorff's alpha and Fleiss' kappa), with the
    single-label per_label keys ("value", "ci95", "reason" are kappa's) plus "alpha" and "kappa"."""
    n_ann = len(data.indicator)
    per_label_count = data.indicator.sum(axis=0)
    on_pairable = data.indicator[data.base.pairable[data.base.item]].sum(axis=0)
    out = []
    for j in range(data.n_labels):
        presence = _presence(data, j)
        figures = {
            "alpha": st._krippendorff_alpha(presence, False, n_boot, seed),
            "kappa": st._fleiss_kappa(presence, n_boot, seed),
        }
        for key, est in figures.items():
            if est.reason == st.REASON_ONE_CATEGORY:
                reason = st.REASON_LABEL_UNUSED if on_pairable[j] == 0 else st.REASON_LABEL_EVERYWHERE
                figures[key] = st._none(reason, est.n_items)
        out.append(
            {
                "label": j,
                "n_ratings": int(per_label_count[j]),
                "prevalence": float(per_label_count[j] / n_ann) if n_ann else None,
                **figures["kappa"].to_dict(),
                "alpha": figures["alpha"].to_dict(),
                "kappa": figures["kappa"].to_dict(),
            }
        )
    return out


def _pair_alphas(data: _Sets, items: _Items | None) -> list[dict[str, Any]]:
    """MASI alpha of each pair of raters on the items both rated (two ratings per item), for pairs
    sharing two or more items: {"rater_a", "rater_b", "n", "value", "ci95" (None), "reason"}."""
    if items is None:
        return []
    r, n_sets = data.base.n_raters, data.n_sets
    keys, dist, marg_keys = [], [], []
    for a, b in items.column_pairs():
        ok = np.nonzero((items.codes[:, a] >= 0) & (items.codes[:, b] >= 0))[0]
        if len(ok) == 0:
            continue
        ra, rb = items.raters[ok, a], items.raters[ok, b]
        key = np.minimum(ra, rb) * r + np.maximum(ra, rb)
        keys.append(key)
        dist.append(data.distance(items.codes[ok, a], items.codes[ok, b]))
        marg_keys += [key * n_sets + items.codes[ok, a], key * n_sets + items.codes[ok, b]]
    if not keys:
        return []
    key, d = np.concatenate(keys), np.concatenate(dist)
    pair_codes, pair_index = st._encode(key)
    shared = np.bincount(pair_index)
    observed = np.bincount(pair_index, weights=2.0 * d)  # ordered pairs, one unit of two ratings each
    cells, cell_counts = np.unique(np.concatenate(marg_keys), return_counts=True)
    cell_pair = np.searchsorted(pair_codes, cells // n_sets)
    starts = np.searchsorted(cell_pair, np.arange(len(pair_codes)))
    ends = np.searchsorted(cell_pair, np.arange(len(pair_codes)), side="right")
    out = []
    for p, code in enumerate(pair_codes):
        if shared[p] < 2:
            continue
        a, b = divmod(int(code), r)
        sets = cells[starts[p] : ends[p]] % n_sets
        counts = cell_counts[starts[p] : ends[p]].astype(np.float64)
        if len(sets) < 2:
            est = st._none(REASON_ONE_LABEL_SET, int(shared[p]))
        else:
            ii, jj = np.meshgrid(sets, sets, indexing="ij")
            expected = counts @ data.distance(ii.ravel(), jj.ravel()).reshape(len(sets), -1) @ counts
            value = float(_alpha_value(2.0 * shared[p], observed[p], expected))
            est = Estimate(value, None, None, int(shared[p]))
        out.append(
            {
                "rater_a": st._py(data.base.rater_codes[a]),
                "rater_b": st._py(data.base.rater_codes[b]),
                "n": int(shared[p]),
                **est.to_dict(),
            }
        )
    return out


def _per_rater(data: _Sets, items: _Items | None) -> list[dict[str, Any]]:
    """Per rater: mean MASI agreement (1 - distance) with the others on shared items, and how often
    their set equals the set most of the others chose (each label kept by a strict majority of the
    others; items where the others tie on a label are not counted), with a Wilson interval."""
    base = data.base
    r = base.n_raters
    sim_sum, sim_n = np.zeros(r), np.zeros(r)
    if items is not None:
        for a, b in items.column_pairs():
            ok = np.nonzero((items.codes[:, a] >= 0) & (items.codes[:, b] >= 0))[0]
            if len(ok) == 0:
                continue
            s = 1.0 - data.distance(items.codes[ok, a], items.codes[ok, b])
            for col in (a, b):
                sim_sum += np.bincount(items.raters[ok, col], weights=s, minlength=r)
                sim_n += np.bincount(items.raters[ok, col], minlength=r)
    n_ann = np.bincount(base.rater, minlength=r)
    n_def = np.zeros(r, dtype=np.int64)
    n_match = np.zeros(r, dtype=np.int64)
    if base.n_annotations and data.n_labels == 0:
        # No labels to choose: every set is empty, so every rater matches the others.
        n_def = n_match = np.bincount(base.rater[base.m[base.item] >= 2], minlength=r)
    elif base.n_annotations:
        q = data.n_labels
        rows, labels = np.nonzero(data.indicator)
        per_item = np.bincount(base.item[rows] * q + labels, minlength=len(base.item_codes) * q)
        others = per_item.reshape(-1, q).astype(np.int32)[base.item] - data.indicator
        n_others = (base.m[base.item] - 1)[:, None]
        tie = (2 * others == n_others).any(axis=1)
        defined = (n_others[:, 0] >= 1) & ~tie
        match = defined & ((2 * others > n_others) == data.indicator).all(axis=1)
        n_def = np.bincount(base.rater[defined], minlength=r)
        n_match = np.bincount(base.rater[match], minlength=r)
    loo_ci = st.wilson_interval(n_match, n_def)
    return [
        {
            "rater": st._py(base.rater_codes[i]),
            "n_annotations": int(n_ann[i]),
            "mean_masi_agreement": float(sim_sum[i] / sim_n[i]) if sim_n[i] else None,
            "n_masi_pairs": int(sim_n[i]),
            "mean_kappa": None,
            "n_kappa_pairs": 0,
            "loo_agreement": float(n_match[i] / n_def[i]) if n_def[i] else None,
            "loo_agreement_ci95": [float(x) for x in loo_ci[i]] if n_def[i] else None,
            "n_loo_items": int(n_def[i]),
            "n_loo_matches": int(n_match[i]),
        }
        for i in range(r)
    ]


def agreement_with_sme(
    data: _Sets, gold: Mapping[Any, tuple[np.ndarray, Any]] | None
) -> list[dict[str, Any]]:
    """Per rater, on the items an SME decided (the disputed ones): how often their set equals the
    SME's, and per label in the SME's set how often they chose it too, each with a Wilson
    interval. A rater's sets on items they decided themselves are not scored."""
    base, q = data.base, data.n_labels
    r = base.n_raters
    hits, n = np.zeros(r, dtype=np.int64), np.zeros(r, dtype=np.int64)
    hit_cell, n_cell = np.zeros((r, q), dtype=np.int64), np.zeros((r, q), dtype=np.int64)
    for row, i, truth in st.sme_scored_rows(base, gold):
        mine = data.indicator[row]
        n[i] += 1
        hits[i] += bool((mine == truth).all())
        chosen = np.nonzero(truth)[0]
        n_cell[i, chosen] += 1
        hit_cell[i, chosen] += mine[chosen]
    return st.sme_agreement_rows(hits, n, hit_cell, n_cell)


def _label_confusion(data: _Sets, items: _Items | None) -> list[dict[str, Any]]:
    """For each pair of labels a, b: rater pairs on one item where one chose a and not b and the
    other b and not a (they split between the two), most confused first."""
    q = data.n_labels
    co = np.zeros((q, q))
    if items is not None:
        for a, b in items.column_pairs():
            ok = np.nonzero((items.codes[:, a] >= 0) & (items.codes[:, b] >= 0))[0]
            if len(ok) == 0:
                continue
            sa, sb = data.sets[items.codes[ok, a]], data.sets[items.codes[ok, b]]
            only_a = (sa & ~sb).astype(np.float64)
            only_b = (sb & ~sa).astype(np.float64)
            co += only_a.T @ only_b
    co = co + co.T
    iu = np.triu_indices(q, k=1)
    vals = co[iu].round().astype(np.int64)
    order = np.lexsort((iu[1], iu[0], -vals))
    return [
        {"label_a": int(iu[0][i]), "label_b": int(iu[1][i]), "count": int(vals[i])}
        for i in order
        if vals[i] > 0
    ]


def _not_for_sets(n_items: int) -> Estimate:
    return st._none(REASON_NOT_FOR_LABEL_SETS, n_items)


def _all_coefficients(data: _Sets, n_boot: int, seed: int | None) -> dict[str, Estimate]:
    est = _set_coefficients(data, n_boot, seed)
    n_items = int(data.base.pairable.sum())
    # The single-label report's four keys, so slices, history and versions read alike; Fleiss'
    # kappa and Gwet's AC1 would treat each distinct set as an unrelated category, so they stay out.
    return {
        "percent_agreement": est["percent_agreement"],
        "fleiss_kappa": _not_for_sets(n_items),
        "krippendorff_alpha": est["krippendorff_alpha"],
        "gwet_ac1": _not_for_sets(n_items),
    }


def _diagnostics(
    data: _Sets, est: dict[str, Estimate], rater_rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    base = st._basic_reason(data.base)
    if base:
        return [{"code": base}]
    out: list[dict[str, Any]] = []
    n_overlap = int(data.base.pairable.sum())
    if n_overlap < st.FEW_ITEMS:
        out.append({"code": "few_items", "n_items_overlap": n_overlap, "min_items": st.FEW_ITEMS})
    alpha = est["krippendorff_alpha"]
    if alpha.ci95 is not None and alpha.ci95[1] - alpha.ci95[0] > st.WIDE_CI:
        out.append({"code": "wide_interval", "coefficients": ["krippendorff_alpha"], "max_width": st.WIDE_CI})
    out += [{**row, "label_sets": True} for row in st._outlying_raters(rater_rows)]
    return out


def masi_alpha(
    items: Any,
    raters: Any,
    label_sets: Any,
    n_labels: int,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int | None = DEFAULT_SEED,
) -> Estimate:
    """Krippendorff's alpha with the MASI distance; CI: percentile bootstrap over items."""
    return _set_coefficients(_Sets(items, raters, label_sets, n_labels), n_boot, seed)["krippendorff_alpha"]


def per_label(
    items: Any,
    raters: Any,
    label_sets: Any,
    n_labels: int,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int | None = DEFAULT_SEED,
) -> list[dict[str, Any]]:
    """Presence/absence agreement per label: {"label", "n_ratings", "prevalence", "value", "ci95",
    "reason" (Fleiss' kappa, as single-label per_label), "alpha", "kappa"}."""
    return _per_label(_Sets(items, raters, label_sets, n_labels), n_boot, seed)


def coefficients(
    items: Any,
    raters: Any,
    label_sets: Any,
    n_labels: int,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int | None = DEFAULT_SEED,
) -> dict[str, Any]:
    """The light summary for slices and versions: counts and the four coefficient keys."""
    data = _Sets(items, raters, label_sets, n_labels)
    est = _all_coefficients(data, n_boot, seed)
    return {**st._counts(data.base), "distance": DISTANCE, **{k: v.to_dict() for k, v in est.items()}}


def label_set_summary(
    items: Any,
    raters: Any,
    label_sets: Any,
    n_labels: int,
    *,
    gold: Mapping[Any, tuple[np.ndarray, Any]] | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int | None = DEFAULT_SEED,
) -> dict[str, Any]:
    """Everything the agreement report shows for a multi-label project, JSON-ready, with the keys
    of `statistics.agreement_summary`: "krippendorff_alpha" is the MASI alpha ("distance":
    "masi"), "percent_agreement" the share of rater pairs choosing the same set, Fleiss' kappa and
    Gwet's AC1 are None (REASON_NOT_FOR_LABEL_SETS); "per_label" gives presence/absence alpha and
    kappa per label; "per_rater" adds "mean_masi_agreement" and "mean_pair_alpha"; "cohen_kappa"
    is empty and "pair_alpha" holds the MASI alpha of each pair of raters (no interval).

    `gold` maps items to (the SME's set as a boolean row over the labels, the SME's rater code or
    None): each rater's "agreement_with_sme_on_disputed" is then the share of their sets equal to
    the SME's and, per label the SME chose, the share of those examples where they chose it too
    (`agreement_with_sme`)."""
    data = _Sets(items, raters, label_sets, n_labels)
    est = _all_coefficients(data, n_boot, seed)
    items_ = _Items(data) if not st._basic_reason(data.base) else None
    rater_rows = _per_rater(data, items_)
    for row, sme in zip(rater_rows, agreement_with_sme(data, gold), strict=True):
        row["agreement_with_sme_on_disputed"] = sme
    pairs = _pair_alphas(data, items_)
    mean_alpha: dict[Any, list[float]] = {}
    for pair in pairs:
        if pair["value"] is not None:
            mean_alpha.setdefault(pair["rater_a"], []).append(pair["value"])
            mean_alpha.setdefault(pair["rater_b"], []).append(pair["value"])
    for row in rater_rows:
        values = mean_alpha.get(row["rater"], [])
        row["mean_pair_alpha"] = float(np.mean(values)) if values else None
        row["n_alpha_pairs"] = len(values)
    return {
        **st._counts(data.base),
        "ordinal": False,
        "kappa_weights": None,
        "distance": DISTANCE,
        **{k: v.to_dict() for k, v in est.items()},
        "cohen_kappa": [],
        "pair_alpha": pairs,
        "per_label": _per_label(data, n_boot, seed),
        "per_rater": rater_rows,
        "label_confusion": _label_confusion(data, items_),
        "diagnostics": _diagnostics(data, est, rater_rows),
    }
