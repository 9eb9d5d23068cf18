"""Time the agreement kernels on 1,000,000 annotations against statsmodels and `krippendorff`.

200k items, 5 raters per item drawn from 20, 10 labels.
Run: .venv/bin/python bench/bench_statistics_kernels.py
"""

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from consistency.agreement import statistics  # noqa: E402

N_ITEMS, N_POOL, PER_ITEM, N_LABELS = 200_000, 20, 5, 10


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


if __name__ == "__main__":
    main()
