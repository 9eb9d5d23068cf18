"""Time and peak memory of the label-issue ranking against cleanlab, on 1,000,000 examples.

1,000,000 examples, 10 labels, a model's probabilities, 3 annotations per example from a pool of 10
raters (an (n, 10) matrix, -1 where a rater did not label). Pure NumPy, no database.
Times are the best of ``--repeat`` runs; peak memory is what tracemalloc sees allocated during one call
beyond its inputs (NumPy reports its buffers to tracemalloc). cleanlab (AGPL, test-only) runs
single-process (n_jobs=1) so both sides use one core; without cleanlab only our figures are printed.
cleanlab's multi-annotator function (pandas and per-row Python loops over tied votes) takes about a
minute at 1,000,000 and several more under tracemalloc, so by default CROWDLAB is compared with it on
the first ``--crowd-examples`` (200,000) rows, both sides on the same rows; pass 1000000 for the full size.
Run: .venv/bin/python bench/bench_label_issues.py [--examples 1000000] [--crowd-examples 200000] [--repeat 2]
"""

import argparse
import gc
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from consistency.quality.label_issues import rank_label_issues  # noqa: E402

K, POOL, PER_EXAMPLE = 10, 10, 3


def make_data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, K, n)
    logits = rng.normal(0.0, 1.0, (n, K))
    logits[np.arange(n), truth] += 3.0
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    del logits
    accuracy = np.linspace(0.95, 0.5, POOL)
    ann = np.full((n, POOL), -1, dtype=np.int64)
    chosen = np.argsort(rng.random((n, POOL)), axis=1)[:, :PER_EXAMPLE]
    rows = np.arange(n)
    for c in range(PER_EXAMPLE):
        r = chosen[:, c]
        wrong = (truth + rng.integers(1, K, n)) % K
        ann[rows, r] = np.where(rng.random(n) < accuracy[r], truth, wrong)
    # Current label: the raters' plurality, ties to the model (as cleanlab's majority vote).
    counts = np.zeros((n, K))
    for r in range(POOL):
        rated = np.flatnonzero(ann[:, r] >= 0)
        counts[rated, ann[rated, r]] += 1
    labels = np.where(counts == counts.max(axis=1, keepdims=True), probs, -1.0).argmax(axis=1)
    return truth, probs, ann, labels


def measure(fn, repeat: int) -> tuple[float, float, object]:
    """(best seconds, peak MB allocated during one call, result)."""
    best = float("inf")
    result = None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
        del result
    gc.collect()
    tracemalloc.start()
    result = fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, peak / 2**20, result


def recall(order: np.ndarray, planted: np.ndarray) -> float:
    return np.isin(order[: len(planted)], planted).sum() / len(planted)


def row(name: str, seconds: float, peak: float, note: str = "") -> None:
    print(f"{name:<58} {seconds:7.2f} s  {peak:8.0f} MB peak  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1_000_000)
    parser.add_argument("--crowd-examples", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    n = args.examples
    truth, probs, ann, labels = make_data(n)
    wrong = np.flatnonzero(labels != truth)
    print(
        f"{n:,} examples, {K} labels, {PER_EXAMPLE} annotations each from {POOL} raters; "
        f"{len(wrong):,} wrong labels"
    )
    print(f"inputs: pred_probs {probs.nbytes / 2**20:.0f} MB, annotations {ann.nbytes / 2**20:.0f} MB")

    cl_t, cl_m, cl = measure(lambda: rank_label_issues(labels, K, pred_probs=probs), args.repeat)
    row("ours: confident learning (probabilities)", cl_t, cl_m, f"recall@wrong {recall(cl.order, wrong):.3f}")
    del cl
    cr_t, cr_m, cr = measure(
        lambda: rank_label_issues(labels, K, pred_probs=probs, annotations=ann), args.repeat
    )
    row(
        "ours: CROWDLAB (probabilities + annotations)",
        cr_t,
        cr_m,
        f"recall@wrong {recall(cr.order, wrong):.3f}",
    )
    del cr
    # The compact layout: the 3 votes per example and who cast them, (n, 3) each.
    present = ann >= 0
    slot_rater = np.argsort(~present, axis=1, kind="stable")[:, :PER_EXAMPLE]
    slot_votes = np.take_along_axis(ann, slot_rater, axis=1)
    sl_t, sl_m, sl = measure(
        lambda: rank_label_issues(labels, K, pred_probs=probs, annotations=slot_votes, annotators=slot_rater),
        args.repeat,
    )
    row(
        "ours: CROWDLAB, slot layout (n, 3) votes + annotators",
        sl_t,
        sl_m,
        f"recall@wrong {recall(sl.order, wrong):.3f}",
    )
    del sl
    wv_t, wv_m, wv = measure(lambda: rank_label_issues(labels, K, annotations=ann), args.repeat)
    row("ours: weighted vote (annotations only)", wv_t, wv_m, f"recall@wrong {recall(wv.order, wrong):.3f}")
    del wv

    try:
        from cleanlab.filter import find_label_issues
        from cleanlab.multiannotator import get_label_quality_multiannotator
    except ImportError:
        print("cleanlab is not installed (requirements-test.txt): no comparison, skipped")
        return
    warnings.filterwarnings("ignore")

    def cleanlab_cl():
        return find_label_issues(
            labels,
            probs,
            filter_by="prune_by_noise_rate",
            return_indices_ranked_by="self_confidence",
            n_jobs=1,
        )

    ref_t, ref_m, ref = measure(cleanlab_cl, 1)
    row(
        "cleanlab find_label_issues (prune_by_noise_rate, n_jobs=1)",
        ref_t,
        ref_m,
        f"recall@wrong {recall(ref, wrong):.3f}",
    )
    del ref
    print(f"confident learning: {cl_t / ref_t:.3f}x cleanlab's time, {cl_m / ref_m:.2f}x its peak memory")

    m = min(args.crowd_examples, n)
    c_probs, c_ann, c_labels = probs[:m], ann[:m], labels[:m]
    c_wrong = np.flatnonzero(c_labels != truth[:m])
    print(f"on the first {m:,} examples ({len(c_wrong):,} wrong labels):")
    if m < n:
        cr_t, cr_m, cr = measure(
            lambda: rank_label_issues(c_labels, K, pred_probs=c_probs, annotations=c_ann), args.repeat
        )
        row("ours: CROWDLAB", cr_t, cr_m, f"recall@wrong {recall(cr.order, c_wrong):.3f}")
        del cr
    missing = np.where(c_ann < 0, np.nan, c_ann).astype(float)

    def cleanlab_crowdlab():
        return get_label_quality_multiannotator(missing, c_probs, consensus_method="majority_vote")

    mref_t, mref_m, mref = measure(cleanlab_crowdlab, 1)
    scores = mref["label_quality"]["consensus_quality_score"].to_numpy()
    note = f"recall@wrong {recall(np.argsort(scores, kind='stable'), c_wrong):.3f}"
    row("cleanlab get_label_quality_multiannotator", mref_t, mref_m, note)
    del mref
    print(f"CROWDLAB: {cr_t / mref_t:.3f}x cleanlab's time, {cr_m / mref_m:.2f}x its peak memory")


if __name__ == "__main__":
    main()
