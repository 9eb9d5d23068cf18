"""Agreement on labeled character spans (named entities) as pure, vectorised NumPy functions.

Input: ``items`` and ``raters``, one row per annotation (an annotation with no spans still says
"no entities here"), each (item, rater) pair at most once; ``spans``, an (n, 4) integer array of
[annotation row, start, end, label code] (character offsets, end exclusive, labels 0..n_labels-1);
and for token-level figures ``tokens``, an (n, 3) array of [item, start, end] from `tokenize` /
`token_table`. No Django here; results are numbers and codes, as in
`consistency.agreement.statistics`, whose conventions hold (items rated once left out,
``Estimate(None, reason)``, seeded percentile bootstraps).

Span F1 (Hripcsak & Rothschild 2005): for two raters A and B on the items both rated, taking
either as the reference, precision and recall give F1 = 2PR / (P + R), the same both ways round.
A span of A is matched by B when B has a span with the same label that is identical (exact
match) or overlaps it (overlap match). Pooled over every pair of raters, F1 = (spans matched by
the other rater) / (spans), summed over ordered rater pairs. With one rater as the reference
and exact match this is seqeval's entity-level F1. Intervals: bootstrap over items.

Token level: every token (``labeling.spans.TOKEN_PATTERN``, a regex: runs of word characters, or one other
non-space character) gets, from each rater, the label of the shortest of their spans that holds
the token's first character (ties: the lower label code), or "outside" (code n_labels). Those
per-token categories give Krippendorff's alpha (nominal) and Fleiss' kappa with tokens as units;
the intervals resample items (whole texts), because tokens of one text are not independent.

Boundary vs label: each span of a rater, against each other rater on its item, is "exact" (the
same span), "label" (the same offsets, another label), "boundary" (an overlapping span with its
label, other offsets), "boundary_and_label" (an overlapping span, other offsets and label), or
"missing" (nothing overlaps it); the best relation found counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from scipy import sparse

from consistency.agreement import statistics as st
from consistency.agreement.statistics import DEFAULT_N_BOOT, DEFAULT_SEED, Estimate
from labeling.spans import token_offsets

REASON_NO_SPANS = "no_spans"  # no span on any item two raters rated: F1 is 0 / 0
RELATIONS = ("exact", "label", "boundary", "boundary_and_label", "missing")
_EXACT, _LABEL, _BOUNDARY, _BOTH, _MISSING = range(5)


def tokenize(text: str) -> np.ndarray:
    """The tokens of `text` as a (n, 2) array of character offsets [start, end)."""
    return np.asarray(token_offsets(text), dtype=np.int64).reshape(-1, 2)


def token_table(items: Iterable[Any], texts: Iterable[str]) -> np.ndarray:
    """Tokens of several texts as one (n, 3) array [item, start, end], in text order."""
    parts = []
    for item, text in zip(items, texts, strict=True):
        offsets = tokenize(text)
        parts.append(np.column_stack([np.full(len(offsets), item, dtype=np.int64), offsets]))
    return np.concatenate(parts) if parts else np.zeros((0, 3), dtype=np.int64)


class _Spans:
    def __init__(self, items: Any, raters: Any, spans: Any, n_labels: int) -> None:
        n = len(np.asarray(items).ravel())
        self.base = st._prepare(items, raters, np.zeros(n, dtype=np.int64), 1)
        self.n_labels = q = int(n_labels)
        spans = np.asarray(spans, dtype=np.int64).reshape(-1, 4)
        ann, start, end, label = spans.T
        if len(spans):
            if ann.min() < 0 or ann.max() >= n:
                raise ValueError("span annotation rows must be in 0..len(items)-1")
            if (start < 0).any() or (start >= end).any():
                raise ValueError("every span needs 0 <= start < end")
            if label.min() < 0 or label.max() >= q:
                raise ValueError("span labels must be codes in 0..n_labels-1")
        self.ann, self.start, self.end, self.label = ann, start, end, label
        self.item = self.base.item[ann]
        self.rater = self.base.rater[ann]
        # Every other rater of the item is a comparison for each span.
        self.others = self.base.m[self.item] - 1

    @property
    def n_spans(self) -> int:
        return len(self.ann)


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (np.unique's hash table is several times slower on these keys)."""
    values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values


def _overlapping_pairs(data: _Spans) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of spans (i, j) of different raters on one item that overlap, each pair once.

    Spans sorted by (item, start): j after i overlaps i while start_j < end_i, so each span's
    window ends at the first later span starting at or past its end; the loop runs over the
    offset within that window (the largest number of spans overlapping one span), never over spans.
    """
    order = np.lexsort((data.end, data.start, data.item))
    item, start, end = data.item[order], data.start[order], data.end[order]
    rater = data.rater[order]
    n = len(order)
    left, right = [], []
    active = np.arange(n)
    k = 1
    while len(active):
        j = active + k
        ok = j < n
        active, j = active[ok], j[ok]
        ok = (item[j] == item[active]) & (start[j] < end[active])
        active, j = active[ok], j[ok]
        keep = rater[active] != rater[j]
        left.append(order[active[keep]])
        right.append(order[j[keep]])
        k += 1
    if not left:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(left), np.concatenate(right)


def _relations(data: _Spans) -> dict[str, np.ndarray]:
    """Per span: how many other raters match it exactly, by overlap, and the best relation to each."""
    i, j = _overlapping_pairs(data)
    same_offsets = (data.start[i] == data.start[j]) & (data.end[i] == data.end[j])
    same_label = data.label[i] == data.label[j]
    code = np.where(
        same_offsets, np.where(same_label, _EXACT, _LABEL), np.where(same_label, _BOUNDARY, _BOTH)
    )
    # Spans of two raters at the same place with two labels: which labels they split between.
    split = code == _LABEL
    out_labels = (data.label[i][split], data.label[j][split])
    # Both directions: (span, the other span's rater, relation).
    span = np.concatenate([i, j])
    other = np.concatenate([data.rater[j], data.rater[i]])
    code = np.concatenate([code, code])
    r = data.base.n_raters
    key = span * r + other
    out = {}
    for name, rows in (("exact", code == _EXACT), ("overlap", (code == _EXACT) | (code == _BOUNDARY))):
        found = _distinct(key[rows])
        out[name] = np.bincount(found // r, minlength=data.n_spans)
    # The best relation per (span, other rater): the smallest code.
    order = np.lexsort((code, key))
    first = np.ones(len(order), dtype=bool)
    first[1:] = key[order][1:] != key[order][:-1]
    best_span, best_code = span[order][first], code[order][first]
    counts = np.zeros((data.n_spans, len(RELATIONS)), dtype=np.int64)
    np.add.at(counts, (best_span, best_code), 1)
    counts[:, _MISSING] = data.others - counts[:, :_MISSING].sum(axis=1)
    out["relations"] = counts
    out["pair_span"], out["pair_other"], out["pair_code"] = span, other, code
    out["split_labels"] = out_labels
    return out


def _f1_estimate(matched: np.ndarray, total: np.ndarray, reps: np.ndarray | None, n_items: int, reason):
    if reason:
        return st._none(reason, n_items)
    if total <= 0:
        return st._none(REASON_NO_SPANS, n_items)
    ci = None
    if reps is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            ci = st._percentile_ci(reps[0] / reps[1])
    return Estimate(float(matched / total), ci, None, n_items)


def _pair_f1(data: _Spans, rel: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """F1 for each pair of raters that share two or more items, exact and overlap match."""
    base = data.base
    r = base.n_raters
    order = np.lexsort((base.rater, base.item))
    item, rater = base.item[order], base.rater[order]
    n_spans_ann = np.bincount(data.ann, minlength=base.n_annotations)[order]
    end = np.cumsum(base.m)[item]
    size = np.zeros(r * r, dtype=np.int64)  # size[a, b]: a's spans on items b rated too
    shared = np.zeros(r * r, dtype=np.int64)
    idx = np.arange(len(item))
    for k in range(1, int(base.m.max()) if len(base.m) else 0):
        a = idx[idx + k < end]
        b = a + k
        size += np.bincount(rater[a] * r + rater[b], weights=n_spans_ann[a], minlength=r * r).astype(np.int64)
        size += np.bincount(rater[b] * r + rater[a], weights=n_spans_ann[b], minlength=r * r).astype(np.int64)
        shared += np.bincount(rater[a] * r + rater[b], minlength=r * r)
    matched = {}
    for name, codes in (("exact", (_EXACT,)), ("overlap", (_EXACT, _BOUNDARY))):
        rows = np.isin(rel["pair_code"], codes)
        keys = _distinct(rel["pair_span"][rows] * r + rel["pair_other"][rows])
        span, other = keys // r, keys % r
        matched[name] = np.bincount(data.rater[span] * r + other, minlength=r * r)
    out = []
    for flat in np.nonzero(shared >= 2)[0]:
        a, b = divmod(int(flat), r)
        back = b * r + a
        row = {
            "rater_a": st._py(base.rater_codes[a]),
            "rater_b": st._py(base.rater_codes[b]),
            "n_items": int(shared[flat]),
        }
        for name in ("exact", "overlap"):
            if size[flat] + size[back] == 0:
                row[name] = {"value": None, "reason": REASON_NO_SPANS}
                continue
            recall = matched[name][flat] / size[flat] if size[flat] else 0.0
            precision = matched[name][back] / size[back] if size[back] else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            row[name] = {"value": float(f1), "reason": None}
        out.append(row)
    return out


def span_f1(
    items: Any,
    raters: Any,
    spans: Any,
    n_labels: int,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int | None = DEFAULT_SEED,
) -> dict[str, Any]:
    """Span F1 between raters, exact and overlap match, overall and per label, with intervals;
    F1 per rater pair; and the boundary-vs-label breakdown (counts per relation, see the module).

    {"exact": {"value", "ci95", "reason", "per_label": [...]}, "overlap": {...}, "pairs": [...],
    "breakdown": {"counts": {relation: n}, "shares": {relation: share of all comparisons},
    "disagreements": {relation: share of those not exact}}, "n_items", "n_items_overlap",
    "n_raters", "n_annotations", "n_spans"}."""
    data = _Spans(items, raters, spans, n_labels)
    base, q = data.base, data.n_labels
    reason = st._basic_reason(data.base)
    rel = _relations(data)
    pairable_item = base.pairable
    n_items = int(pairable_item.sum())
    # Per item, integer sums the figures are ratios of: matched (exact, overlap) and compared spans
    # per label, and the relation counts.
    n_all = len(base.item_codes)
    by_item_label = data.item * q + data.label
    columns = [
        np.bincount(by_item_label, weights=rel["exact"], minlength=n_all * q).reshape(n_all, q),
        np.bincount(by_item_label, weights=rel["overlap"], minlength=n_all * q).reshape(n_all, q),
        np.bincount(by_item_label, weights=data.others, minlength=n_all * q).reshape(n_all, q),
    ]
    rel_counts = np.zeros((n_all, len(RELATIONS)))
    for c in range(len(RELATIONS)):
        rel_counts[:, c] = np.bincount(data.item, weights=rel["relations"][:, c], minlength=n_all)
    rows = np.hstack(columns + [rel_counts]).round().astype(np.int64)[pairable_item]
    totals = rows.sum(axis=0)
    reps = None
    if not reason and n_items >= 2 and n_boot > 0:
        boot = st._Bootstrap(rows, n_boot, seed)
        reps = boot.sums(boot.patterns.astype(np.float64))
    result: dict[str, Any] = {
        **st._counts(base),
        "n_spans": int(data.n_spans),
    }
    for m, name in enumerate(("exact", "overlap")):
        matched_cols = slice(m * q, (m + 1) * q)
        total_cols = slice(2 * q, 3 * q)
        overall_reps = (
            (reps[:, matched_cols].sum(axis=1), reps[:, total_cols].sum(axis=1)) if reps is not None else None
        )
        overall = _f1_estimate(
            totals[matched_cols].sum(), totals[total_cols].sum(), overall_reps, n_items, reason
        )
        per_label = []
        for j in range(q):
            label_reps = (reps[:, m * q + j], reps[:, 2 * q + j]) if reps is not None else None
            est = _f1_estimate(totals[m * q + j], totals[2 * q + j], label_reps, n_items, reason)
            per_label.append({"label": j, "n_spans": int((data.label == j).sum()), **est.to_dict()})
        result[name] = {**overall.to_dict(), "per_label": per_label}
    result["pairs"] = [] if reason else _pair_f1(data, rel)
    a, b = rel["split_labels"]
    low, high = np.minimum(a, b), np.maximum(a, b)
    split = np.bincount(low * q + high, minlength=q * q)
    result["label_confusion"] = [
        {"label_a": int(k // q), "label_b": int(k % q), "count": int(split[k])}
        for k in np.lexsort((np.arange(q * q), -split))
        if split[k] > 0
    ]
    counts = {name: int(totals[3 * q + c]) for c, name in enumerate(RELATIONS)}
    compared = sum(counts.values())
    disagreeing = compared - counts["exact"]
    result["breakdown"] = {
        "counts": counts,
        "shares": {k: (v / compared if compared else None) for k, v in counts.items()},
        "disagreements": {
            k: (v / disagreeing if disagreeing else None) for k, v in counts.items() if k != "exact"
        },
    }
    return result


# --------------------------------------------------------------------------------------------------
# Token level


def _sorted_tokens(data: _Spans, tokens: Any) -> tuple[np.ndarray, np.ndarray]:
    """The tokens of annotated items as (internal item index, start), sorted by both."""
    base = data.base
    tokens = np.asarray(tokens, dtype=np.int64).reshape(-1, 3)
    pos = np.clip(np.searchsorted(base.item_codes, tokens[:, 0]), 0, max(len(base.item_codes) - 1, 0))
    known = (base.item_codes[pos] == tokens[:, 0]) if len(base.item_codes) else np.zeros(len(tokens), bool)
    t_item, t_start = pos[known], tokens[known, 1]
    order = np.lexsort((t_start, t_item))
    return t_item[order], t_start[order]


def _covered_tokens(data: _Spans, t_item: np.ndarray, t_start: np.ndarray) -> tuple[np.ndarray, ...]:
    """Each (annotation, token) some span of the annotation holds, once: the annotation row, the
    token's index in the sorted tokens, and the label of the shortest such span (ties: the lower
    label code). Tokens no span holds are "outside" and not listed."""
    q = data.n_labels
    if not data.n_spans or not len(t_item):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    stride = int(max(t_start.max(), data.end.max())) + 2
    token_key = t_item * stride + t_start
    lo = np.searchsorted(token_key, data.item * stride + data.start, side="left")
    hi = np.searchsorted(token_key, data.item * stride + data.end, side="left")
    width = hi - lo
    which = np.repeat(np.arange(data.n_spans), width)
    token = lo[which] + (np.arange(int(width.sum())) - np.repeat(np.cumsum(width) - width, width))
    ann = data.ann[which]
    priority = (data.end - data.start)[which] * (q + 1) + data.label[which]
    order = np.lexsort((priority, token, ann))
    ann, token = ann[order], token[order]
    keep = np.ones(len(order), dtype=bool)
    keep[1:] = (ann[1:] != ann[:-1]) | (token[1:] != token[:-1])
    return ann[keep], token[keep], data.label[which[order[keep]]]


def token_categories(data: _Spans, tokens: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per (annotation, token of its item): the token's global index, the annotation's rater and
    item (internal), and its category (label code, or n_labels for outside any span). One row per
    cell: for inspecting and for reference inputs; `token_agreement` counts without them."""
    base, q = data.base, data.n_labels
    t_item, t_start = _sorted_tokens(data, tokens)
    per_item = np.bincount(t_item, minlength=len(base.item_codes))
    first = np.concatenate([[0], np.cumsum(per_item)[:-1]]).astype(np.int64)
    ann_tokens = per_item[base.item]
    cell_start = np.concatenate([[0], np.cumsum(ann_tokens)[:-1]]).astype(np.int64)
    n_cells = int(ann_tokens.sum())
    cell_ann = np.repeat(np.arange(base.n_annotations), ann_tokens)
    cell_token = first[base.item[cell_ann]] + (np.arange(n_cells) - cell_start[cell_ann])
    category = np.full(n_cells, q, dtype=np.int64)
    ann, token, label = _covered_tokens(data, t_item, t_start)
    category[cell_start[ann] + token - first[data.base.item[ann]]] = label
    return cell_token, base.rater[cell_ann], base.item[cell_ann], category


def _token_counts(data: _Spans, tokens: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per token of an annotated item: its internal item index, and how many of the item's
    raters gave it each category (n_tokens, n_labels + 1). Every rater starts at "outside" and
    moves to a label where one of their spans holds the token, so memory grows with the tokens
    and the spans, never with tokens x raters."""
    q = data.n_labels
    t_item, t_start = _sorted_tokens(data, tokens)
    counts = np.zeros((len(t_item), q + 1), dtype=np.int64)
    counts[:, q] = data.base.m[t_item]
    _, token, label = _covered_tokens(data, t_item, t_start)
    flat = counts.reshape(-1)
    flat += np.bincount(token * (q + 1) + label, minlength=flat.size)
    counts[:, q] -= np.bincount(token, minlength=len(t_item))
    return t_item, counts


def token_agreement(
    items: Any,
    raters: Any,
    spans: Any,
    tokens: Any,
    n_labels: int,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int | None = DEFAULT_SEED,
) -> dict[str, Any]:
    """Krippendorff's alpha (nominal) and Fleiss' kappa on per-token categories, tokens as units,
    intervals from resampling items. {"krippendorff_alpha", "fleiss_kappa", "n_tokens"}."""
    data = _Spans(items, raters, spans, n_labels)
    base, big_q = data.base, data.n_labels + 1
    t_item, counts = _token_counts(data, tokens)
    reason = st._basic_reason(base)
    keep = base.pairable[t_item]
    t_item, counts = t_item[keep], counts[keep]
    n_tokens = len(t_item)
    out = {"n_tokens": int(n_tokens)}
    if not reason and n_tokens == 0:
        reason = st.REASON_NO_OVERLAP
    if reason:
        return {
            **out,
            "krippendorff_alpha": st._none(reason).to_dict(),
            "fleiss_kappa": st._none(reason).to_dict(),
        }
    # Token count rows, grouped into patterns; per item, ordered rater pairs per category pair.
    patterns, inverse, _ = st._unique_rows(counts)
    pair_counts = (
        patterns[:, :, None] * patterns[:, None, :] - np.eye(big_q, dtype=np.int64) * patterns[:, None, :]
    )
    i_codes, i_index = st._encode(t_item)
    per_item = sparse.csr_array(
        (np.ones(len(t_item)), (i_index, inverse)), shape=(len(i_codes), len(patterns))
    )
    n_pairs = (per_item @ pair_counts.reshape(len(patterns), -1)).round().astype(np.int64)
    n_cat = (per_item @ patterns).round().astype(np.int64)
    n_tok = np.bincount(i_index, minlength=len(i_codes))
    m = base.m[i_codes]
    rows = np.column_stack([m, n_tok, n_pairs, n_cat])

    def columns(r: np.ndarray) -> np.ndarray:
        r = r.astype(np.float64)
        mm, pairs, cat = r[:, :1], r[:, 2 : 2 + big_q * big_q], r[:, 2 + big_q * big_q :]
        agreeing = pairs.reshape(len(r), big_q, big_q).trace(axis1=1, axis2=2)[:, None]
        return np.hstack([pairs / (mm - 1), cat, agreeing / (mm * (mm - 1)), r[:, 1:2]])

    def figures(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        o, cat = s[..., : big_q * big_q], s[..., big_q * big_q : big_q * big_q + big_q]
        alpha = st._alpha_from(o, cat, big_q, False)
        kappa = st._fleiss_from_sums(s[..., -2], s[..., -1], cat)
        return alpha, kappa

    alpha, kappa = figures(columns(rows).sum(axis=0))
    n_units = len(i_codes)
    reps = None
    if n_units >= 2 and n_boot > 0:
        boot = st._Bootstrap(rows, n_boot, seed)
        reps = figures(boot.sums(columns(boot.patterns)))
    used = (n_cat.sum(axis=0) > 0).sum()
    for name, value, index in (("krippendorff_alpha", alpha, 0), ("fleiss_kappa", kappa, 1)):
        if used < 2:
            out[name] = st._none(st.REASON_ONE_CATEGORY, n_units).to_dict()
        elif not np.isfinite(value):
            out[name] = st._none(st.REASON_NO_EXPECTED_DISAGREEMENT, n_units).to_dict()
        else:
            ci = st._percentile_ci(reps[index]) if reps is not None else None
            out[name] = Estimate(float(value), ci, None, n_units).to_dict()
    return out


def span_summary(
    items: Any,
    raters: Any,
    spans: Any,
    tokens: Any,
    n_labels: int,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int | None = DEFAULT_SEED,
) -> dict[str, Any]:
    """Span F1 (with the breakdown) and token-level agreement in one dict."""
    return {
        **span_f1(items, raters, spans, n_labels, n_boot=n_boot, seed=seed),
        "tokens": token_agreement(items, raters, spans, tokens, n_labels, n_boot=n_boot, seed=seed),
    }


# --------------------------------------------------------------------------------------------------
# The agreement report's shape

REASON_NOT_FOR_SPANS = "not_for_spans"  # a coefficient the report has no span version of


def _light(data: _Spans, f1: dict[str, Any], tok: dict[str, Any]) -> dict[str, Any]:
    """The four coefficient keys of the single-label report: Krippendorff's alpha and Fleiss' kappa
    on tokens; percent agreement and Gwet's AC1 are not given for spans (span F1 is)."""
    n_items = int(data.base.pairable.sum())
    missing = st._none(REASON_NOT_FOR_SPANS, n_items).to_dict()
    return {
        **st._counts(data.base),
        "n_spans": int(data.n_spans),
        "n_tokens": tok["n_tokens"],
        "percent_agreement": missing,
        "fleiss_kappa": tok["fleiss_kappa"],
        "krippendorff_alpha": tok["krippendorff_alpha"],
        "gwet_ac1": missing,
        "span_f1": {
            name: {key: f1[name][key] for key in ("value", "ci95", "reason")} for name in ("exact", "overlap")
        },
    }


def span_coefficients(
    items: Any,
    raters: Any,
    spans: Any,
    tokens: Any,
    n_labels: int,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int | None = DEFAULT_SEED,
) -> dict[str, Any]:
    """The light summary for slices and guideline versions (see `span_report`)."""
    data = _Spans(items, raters, spans, n_labels)
    f1 = span_f1(items, raters, spans, n_labels, n_boot=n_boot, seed=seed)
    tok = token_agreement(items, raters, spans, tokens, n_labels, n_boot=n_boot, seed=seed)
    return _light(data, f1, tok)


def loo_majority_agreement(data: _Spans) -> tuple[np.ndarray, np.ndarray]:
    """Per rater: (examples where the other raters' majority answer is defined, examples where
    the rater's spans equal it). The others' majority is every span more than half of them marked
    exactly; an example where some span was marked by exactly half of them is a tie and not
    counted, nor is one the rater labeled alone. "No entities" matches an empty majority."""
    base = data.base
    r, n_rows = base.n_raters, base.n_annotations
    if not n_rows:
        return np.zeros(r, dtype=np.int64), np.zeros(r, dtype=np.int64)
    n_others = (base.m - 1)[base.item]  # per annotation row
    # One id per distinct (item, start, end, label): how many raters marked it.
    order = np.lexsort((data.label, data.end, data.start, data.item))
    step = np.ones(len(order), dtype=bool)
    if len(order):
        keyed = np.stack([data.item, data.start, data.end, data.label])[:, order]
        step[1:] = (keyed[:, 1:] != keyed[:, :-1]).any(axis=0)
    key = np.empty(len(order), dtype=np.int64)
    key[order] = np.cumsum(step) - 1
    n_keys = int(step.sum())
    marked = np.bincount(key, minlength=n_keys)
    key_item = np.zeros(n_keys, dtype=np.int64)
    key_item[key] = data.item
    key_others = (base.m - 1)[key_item]
    # Per item, the spans at least half of all the others would reach without the rater (>= half
    # of n_others counting every marker), and the ties; each row then corrects for its own spans.
    n_items = len(base.m)
    reach = np.bincount(key_item, weights=2 * marked >= key_others, minlength=n_items)
    ties = np.bincount(key_item, weights=2 * marked == key_others, minlength=n_items)
    own_reach = np.bincount(data.ann, weights=2 * marked[key] >= n_others[data.ann], minlength=n_rows)
    own_tie_out = np.bincount(data.ann, weights=2 * marked[key] == n_others[data.ann], minlength=n_rows)
    own_tie_in = np.bincount(data.ann, weights=2 * (marked[key] - 1) == n_others[data.ann], minlength=n_rows)
    own_major = np.bincount(data.ann, weights=2 * (marked[key] - 1) > n_others[data.ann], minlength=n_rows)
    own_spans = np.bincount(data.ann, minlength=n_rows)
    tie = (ties[base.item] - own_tie_out + own_tie_in) > 0
    defined = (n_others >= 1) & ~tie
    # Equal: each of the rater's spans is in the others' majority, and no span the rater left out
    # reaches half of the others (none above half since there is no tie at exactly half).
    match = defined & (own_major == own_spans) & ((reach[base.item] - own_reach) == 0)
    return np.bincount(base.rater[defined], minlength=r), np.bincount(base.rater[match], minlength=r)


def agreement_with_sme(
    data: _Spans, gold: Mapping[Any, tuple[frozenset, Any]] | None
) -> list[dict[str, Any]]:
    """Per rater, on the items an SME decided (the disputed ones): how often their spans equal the
    SME's (exact match of every span, "no entities" included), and per label how many of the SME's
    spans of it they marked exactly, each with a Wilson interval. A rater's answers on items they
    decided themselves are not scored."""
    base, q = data.base, data.n_labels
    r = base.n_raters
    hits, n = np.zeros(r, dtype=np.int64), np.zeros(r, dtype=np.int64)
    hit_cell, n_cell = np.zeros((r, q), dtype=np.int64), np.zeros((r, q), dtype=np.int64)
    scored = list(st.sme_scored_rows(base, gold))
    if scored:
        rows = np.fromiter((row for row, _, _ in scored), dtype=np.int64, count=len(scored))
        marked: dict[int, set] = {int(row): set() for row in rows}
        for k in np.nonzero(np.isin(data.ann, rows))[0]:
            marked[int(data.ann[k])].add((int(data.start[k]), int(data.end[k]), int(data.label[k])))
        for row, i, truth in scored:
            mine = marked[row]
            n[i] += 1
            hits[i] += mine == truth
            for span in truth:
                n_cell[i, span[2]] += 1
                hit_cell[i, span[2]] += span in mine
    return st.sme_agreement_rows(hits, n, hit_cell, n_cell)


def span_report(
    items: Any,
    raters: Any,
    spans: Any,
    tokens: Any,
    n_labels: int,
    *,
    gold: Mapping[Any, tuple[frozenset, Any]] | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int | None = DEFAULT_SEED,
) -> dict[str, Any]:
    """Everything the agreement report shows for a span project, with the keys of
    `statistics.agreement_summary`: the four coefficient keys as in `span_coefficients`, "span_f1"
    (exact and overlap, with intervals), "span_pairs" (F1 per rater pair), "breakdown" (boundary
    vs label), "per_label" (exact F1 as "value", plus "exact" and "overlap"), "per_rater" (mean
    exact F1 with the other raters), "label_confusion" (pairs of spans at the same place with two
    labels, per label pair), "cohen_kappa" empty.

    `gold` maps items to (the SME's spans as a frozenset of (start, end, label code), the SME's
    rater code or None): each rater's "agreement_with_sme_on_disputed" is then the share of their
    answers equal to the SME's and, per label, the share of the SME's spans they marked exactly
    (`agreement_with_sme`)."""
    data = _Spans(items, raters, spans, n_labels)
    f1 = span_f1(items, raters, spans, n_labels, n_boot=n_boot, seed=seed)
    tok = token_agreement(items, raters, spans, tokens, n_labels, n_boot=n_boot, seed=seed)
    n_spans = max(data.n_spans, 1)
    per_label = []
    for exact, overlap in zip(f1["exact"]["per_label"], f1["overlap"]["per_label"], strict=True):
        estimate = {key: exact[key] for key in ("value", "ci95", "reason")}
        per_label.append(
            {
                "label": exact["label"],
                "n_ratings": exact["n_spans"],
                "prevalence": exact["n_spans"] / n_spans if data.n_spans else None,
                **estimate,
                "exact": estimate,
                "overlap": {key: overlap[key] for key in ("value", "ci95", "reason")},
            }
        )
    f1_by_rater: dict[Any, list[float]] = {}
    for pair in f1["pairs"]:
        if pair["exact"]["value"] is not None:
            for rater in (pair["rater_a"], pair["rater_b"]):
                f1_by_rater.setdefault(rater, []).append(pair["exact"]["value"])
    base = data.base
    n_ann = np.bincount(base.rater, minlength=base.n_raters)
    n_spans_by_rater = np.bincount(data.rater, minlength=base.n_raters)
    per_rater = []
    with_sme = agreement_with_sme(data, gold)
    n_def, n_match = loo_majority_agreement(data)
    loo_ci = st.wilson_interval(n_match, n_def)
    for i in range(base.n_raters):
        code = st._py(base.rater_codes[i])
        values = f1_by_rater.get(code, [])
        per_rater.append(
            {
                "rater": code,
                "n_annotations": int(n_ann[i]),
                "n_spans": int(n_spans_by_rater[i]),
                "mean_span_f1": float(np.mean(values)) if values else None,
                "n_f1_pairs": len(values),
                "mean_kappa": None,
                "n_kappa_pairs": 0,
                "loo_agreement": float(n_match[i] / n_def[i]) if n_def[i] else None,
                "loo_agreement_ci95": [float(x) for x in loo_ci[i]] if n_def[i] else None,
                "n_loo_items": int(n_def[i]),
                "n_loo_matches": int(n_match[i]),
                "agreement_with_sme_on_disputed": with_sme[i],
            }
        )
    reason = st._basic_reason(base)
    diagnostics: list[dict[str, Any]] = [{"code": reason}] if reason else []
    n_overlap = int(base.pairable.sum())
    if not reason and n_overlap < st.FEW_ITEMS:
        diagnostics.append({"code": "few_items", "n_items_overlap": n_overlap, "min_items": st.FEW_ITEMS})
    return {
        **_light(data, f1, tok),
        "ordinal": False,
        "kappa_weights": None,
        "span_pairs": f1["pairs"],
        "breakdown": f1["breakdown"],
        "cohen_kappa": [],
        "per_label": per_label,
        "per_rater": per_rater,
        "label_confusion": f1["label_confusion"],
        "diagnostics": diagnostics,
    }
