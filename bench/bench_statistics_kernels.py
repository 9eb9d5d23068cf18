"""Time the agreement kernels on 1,000,000 annotations against statsmodels and `krippendorff`.

200k items, 5 raters per item drawn from 20, 10 labels; then the same design with label sets
(multi-label: MASI alpha and per-label presence agreement), as a ratio to the single-label kernels
and against nltk (on a subset: it is pure Python) and `krippendorff` per label.
Run: .venv/bin/python bench/bench_statistics_kernels.py
"""

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from consistency.agreement import label_sets, statistics  # noqa: E402

N_ITEMS, N_POOL, PER_ITEM, N_LABELS = 200_000, 20, 5, 10
NLTK_ITEMS = 2_000  # nltk's alpha is pure Python: about 10,000 annotations take seconds


def make_data(seed: int = 0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, N_LABELS, N_ITEMS)
    chosen = np.argsort(rng.random((N_ITEMS, N_POOL)), axis=1)[:, :PER_ITEM]
    items = np.repeat(np.arange(N_ITEMS), PER_ITEM)
    raters = chosen.ravel()
    labels = np.where(rng.random(len(items)) < 0.7, truth[items], rng.integers(0, N_LABELS, len(items)))
    return items, raters, labels, truth


def timed(name: str, fn):
    start = time.perf_counter()
    result = fn()
    print(f"{name:<48} {time.perf_counter() - start:7.2f} s")
    return result


def before_after(items, raters, labels) -> None:
    """The paired before/after comparison on the same 200k items labeled again under a second
    version (2M annotations, half of the second round sent back for disagreeing), as a ratio to
    the four coefficients with their bootstrap on each version alone (the baseline, same run)."""
    rng = np.random.default_rng(1)
    relabeled = np.where(rng.random(len(items)) < 0.75, labels, rng.integers(0, N_LABELS, len(items)))
    all_items, all_raters = np.r_[items, items], np.r_[raters, raters]
    all_labels = np.r_[labels, relabeled]
    versions = np.r_[np.ones(len(items), int), np.full(len(items), 2)]
    ids = np.arange(1, 2 * len(items) + 1)
    requests = np.arange(N_ITEMS)
    selected = rng.random(N_ITEMS) < 0.5
    start = time.perf_counter()
    statistics.coefficients(items, raters, labels, N_LABELS)
    statistics.coefficients(items, raters, relabeled, N_LABELS)
    baseline = time.perf_counter() - start
    start = time.perf_counter()
    rounds, chosen = statistics.labeling_rounds(
        all_items, ids, requests, np.full(N_ITEMS, len(items)), selected
    )
    result = statistics.version_comparison(
        all_items, all_raters, all_labels, versions, N_LABELS, before=1, after=2, order=ids,
        rounds=rounds, outcome_selected=chosen,
    )  # fmt: skip
    paired = time.perf_counter() - start
    print(f"{'coefficients on v1 and on v2 alone (B=1000)':<48} {baseline:7.2f} s  (baseline)")
    print(
        f"{'rounds + version_comparison (paired, B=1000)':<48} {paired:7.2f} s  = {paired / baseline:.2f}x "
        f"the baseline; {result['n_paired']:,} paired items"
    )


def make_label_sets(items, seed: int = 2):
    """Each item has a true set (each label with probability 0.2); each rater flips each label
    with probability 0.08, so about 1,000 distinct sets occur and agreement is partial."""
    rng = np.random.default_rng(seed)
    truth = rng.random((N_ITEMS, N_LABELS)) < 0.2
    return truth[items] ^ (rng.random((len(items), N_LABELS)) < 0.08)


def label_sets_case(items, raters, labels) -> None:
    """Multi-label on the same design: MASI alpha against the single-label nominal alpha of the
    same items and raters (the ratio is the scaling check), the whole multi-label summary, and
    the references: nltk's AnnotationTask on the first NLTK_ITEMS items (pure Python; the figure
    must equal ours on that subset) and krippendorff's nominal alpha once per label."""
    sets = make_label_sets(items)
    start = time.perf_counter()
    statistics.krippendorff_alpha(items, raters, labels, N_LABELS)
    single_time = time.perf_counter() - start
    start = time.perf_counter()
    masi = label_sets.masi_alpha(items, raters, sets, N_LABELS)
    masi_time = time.perf_counter() - start
    print(f"{'krippendorff_alpha nominal (B=1000, baseline)':<48} {single_time:7.2f} s")
    print(f"{'masi_alpha (B=1000)':<48} {masi_time:7.2f} s  = {masi_time / single_time:.2f}x the baseline")
    ours_sets = timed(
        "masi_alpha (B=0)", lambda: label_sets.masi_alpha(items, raters, sets, N_LABELS, n_boot=0)
    )
    summary = timed(
        "label_set_summary (B=1000)", lambda: label_sets.label_set_summary(items, raters, sets, N_LABELS)
    )
    distinct = len(np.unique(np.packbits(sets, axis=1), axis=0))
    print(f"  {distinct:,} distinct label sets; MASI alpha {masi.value:.6f} {masi.ci95}")

    import krippendorff
    from nltk.metrics.agreement import AnnotationTask
    from nltk.metrics.distance import masi_distance

    subset = items < NLTK_ITEMS
    rows = [
        (int(r), int(i), frozenset(np.nonzero(s)[0].tolist()))
        for i, r, s in zip(items[subset], raters[subset], sets[subset], strict=True)
    ]
    task = AnnotationTask(data=rows, distance=lambda a, b: 0.0 if a == b else masi_distance(a, b))
    nltk_alpha = timed(f"nltk AnnotationTask.alpha ({NLTK_ITEMS:,} items)", task.alpha)
    ours_subset = timed(
        f"masi_alpha (B=0, {NLTK_ITEMS:,} items)",
        lambda: label_sets.masi_alpha(items[subset], raters[subset], sets[subset], N_LABELS, n_boot=0),
    )
    matrix = np.full((N_POOL, N_ITEMS), np.nan)

    def per_label_reference():
        out = []
        for j in range(N_LABELS):
            matrix[raters, items] = sets[:, j]
            out.append(krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"))
        return out

    reference = timed("krippendorff.alpha nominal, once per label", per_label_reference)
    ours_labels = timed(
        "label_sets.per_label (B=0)", lambda: label_sets.per_label(items, raters, sets, N_LABELS, n_boot=0)
    )
    gap = max(abs(row["alpha"]["value"] - ref) for row, ref in zip(ours_labels, reference, strict=True))
    print(
        f"masi alpha on the subset: ours {ours_subset.value:.6f} nltk {nltk_alpha:.6f}; "
        f"per-label alpha: largest gap to krippendorff {gap:.1e}; full B=0 {ours_sets.value:.6f}; "
        f"summary per_label rows {len(summary['per_label'])}"
    )


def main() -> None:
    items, raters, labels, truth = make_data()
    gold = {int(i): int(truth[i]) for i in range(0, N_ITEMS, 100)}
    print(f"{len(items):,} annotations, {N_ITEMS:,} items, {N_POOL} raters, {N_LABELS} labels")
    timed(
        "agreement_summary (nominal, B=1000)",
        lambda: statistics.agreement_summary(items, raters, labels, N_LABELS, gold=gold),
    )
    timed(
        "agreement_summary (ordinal, B=1000)",
        lambda: statistics.agreement_summary(items, raters, labels, N_LABELS, ordinal=True, gold=gold),
    )
    timed("coefficients (nominal, B=1000)", lambda: statistics.coefficients(items, raters, labels, N_LABELS))
    ours_k = timed(
        "fleiss_kappa (B=0)", lambda: statistics.fleiss_kappa(items, raters, labels, N_LABELS, n_boot=0)
    )
    timed("fleiss_kappa (B=1000)", lambda: statistics.fleiss_kappa(items, raters, labels, N_LABELS))
    ours_a = timed(
        "krippendorff_alpha nominal (B=0)",
        lambda: statistics.krippendorff_alpha(items, raters, labels, N_LABELS, n_boot=0),
    )
    timed(
        "krippendorff_alpha nominal (B=1000)",
        lambda: statistics.krippendorff_alpha(items, raters, labels, N_LABELS),
    )
    timed("gwet_ac1", lambda: statistics.gwet_ac1(items, raters, labels, N_LABELS))
    timed(
        "cohen_kappa_pairs (190 pairs)", lambda: statistics.cohen_kappa_pairs(items, raters, labels, N_LABELS)
    )
    timed("dawid_skene", lambda: statistics.dawid_skene(items, raters, labels, N_LABELS))
    before_after(items, raters, labels)

    import krippendorff
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    slots = labels.reshape(N_ITEMS, PER_ITEM)  # complete design: 5 ratings per item
    sm_k = timed(
        "statsmodels aggregate_raters + fleiss_kappa",
        lambda: fleiss_kappa(aggregate_raters(slots, n_cat=N_LABELS)[0]),
    )
    matrix = np.full((N_POOL, N_ITEMS), np.nan)
    matrix[raters, items] = labels
    kr_a = timed(
        "krippendorff.alpha nominal",
        lambda: krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"),
    )
    print(
        f"fleiss: ours {ours_k.value:.6f} statsmodels {sm_k:.6f}; alpha: ours {ours_a.value:.6f} "
        f"krippendorff {kr_a:.6f}"
    )
    label_sets_case(items, raters, labels)


if __name__ == "__main__":
    main()
