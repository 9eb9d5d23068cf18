"""Time span agreement on 100,000 examples, 3 raters, about 5 spans each, against the same
figures through seqeval (entity-level F1 of each rater pair) and `krippendorff` (alpha on the
raters x tokens matrix), in the same run, as a ratio; and the kernel's peak memory.

Run: .venv/bin/python bench/bench_span_agreement.py [N_EXAMPLES]
"""

import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from consistency.agreement import spans as sp  # noqa: E402

N_EXAMPLES = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
N_RATERS, N_LABELS, SPANS_PER_EXAMPLE = 3, 4, 5
LABELS = ["PER", "ORG", "LOC", "MISC"]


def make_data(seed: int = 0):
    """Texts of 30 to 40 words "w0 w1 ..."; 5 true entities of 1-3 tokens per text, each rater
    drops 10%, relabels 10% and shortens 10% of them."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(30, 41, N_EXAMPLES)
    texts = [" ".join(f"w{k}" for k in range(n)) for n in lengths]
    tokens = sp.token_table(range(N_EXAMPLES), texts)
    token_first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    # Entities start at tokens 0, 6, 12, ... (room for 3 tokens and a gap), one per slot.
    slot = np.arange(SPANS_PER_EXAMPLE) * 6
    ex = np.repeat(np.arange(N_EXAMPLES), SPANS_PER_EXAMPLE)
    t_start = np.tile(slot, N_EXAMPLES)
    t_len = rng.integers(1, 4, len(ex))
    label = rng.integers(0, N_LABELS, len(ex))
    rows, starts, ends, labels = [], [], [], []
    for rater in range(N_RATERS):
        u = rng.random(len(ex))
        keep = u >= 0.1
        lab = np.where((u >= 0.1) & (u < 0.2), (label + 1) % N_LABELS, label)
        length = np.where((u >= 0.2) & (u < 0.3) & (t_len > 1), t_len - 1, t_len)
        first = token_first[ex] + t_start
        last = first + length - 1
        rows.append((ex * N_RATERS + rater)[keep])
        starts.append(tokens[first, 1][keep])
        ends.append(tokens[last, 2][keep])
        labels.append(lab[keep])
    spans = np.column_stack(
        [np.concatenate(rows), np.concatenate(starts), np.concatenate(ends), np.concatenate(labels)]
    )
    items = np.repeat(np.arange(N_EXAMPLES), N_RATERS)
    raters = np.tile(np.arange(N_RATERS), N_EXAMPLES)
    return texts, tokens, items, raters, spans


def timed(name: str, fn):
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    print(f"{name:<52} {elapsed:7.2f} s")
    return result, elapsed


def reference_inputs(tokens, items, raters, spans):
    """BIO tags per rater and text (seqeval's input) and the raters x tokens category matrix
    (krippendorff's), built outside the timed part."""
    data = sp._Spans(items, raters, spans, N_LABELS)
    token, rater, _, category = sp.token_categories(data, tokens)
    matrix = np.full((N_RATERS, len(tokens)), np.nan)
    matrix[rater, token] = category
    per_text = np.bincount(tokens[:, 0], minlength=N_EXAMPLES)
    bounds = np.concatenate([[0], np.cumsum(per_text)])
    names = np.array(["O"] + [f"{p}-{label}" for label in LABELS for p in ("B", "I")], dtype=object)
    tags = []
    for r in range(N_RATERS):
        cats = matrix[r].astype(np.int64)
        begins = np.r_[True, cats[1:] != cats[:-1]] | np.isin(np.arange(len(cats)), bounds)
        code = np.where(cats == N_LABELS, 0, 1 + 2 * cats + ~begins)
        words = names[code]
        tags.append([list(words[bounds[i] : bounds[i + 1]]) for i in range(N_EXAMPLES)])
    return tags, matrix


def main() -> None:
    texts, tokens, items, raters, spans = make_data()
    print(f"{N_EXAMPLES:,} examples, {N_RATERS} raters, {len(spans):,} spans, {len(tokens):,} tokens")
    _, kernel = timed(
        "span F1 (exact, overlap) + token alpha and kappa (B=0)",
        lambda: sp.span_summary(items, raters, spans, tokens, N_LABELS, n_boot=0),
    )
    tracemalloc.start()
    result, _ = timed(
        "span_summary with intervals (B=1000)",
        lambda: sp.span_summary(items, raters, spans, tokens, N_LABELS),
    )
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"  peak memory of span_summary (B=1000): {peak / 2**20:,.0f} MiB")

    import krippendorff
    from seqeval.metrics import f1_score

    tags, matrix = reference_inputs(tokens, items, raters, spans)

    def references():
        pairs = [f1_score(tags[a], tags[b]) for a in range(N_RATERS) for b in range(a + 1, N_RATERS)]
        return pairs, krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")

    (pairs, alpha), reference = timed("seqeval f1 per rater pair + krippendorff.alpha", references)
    print(f"kernel (B=0) = {kernel / reference:.3f}x the references' time")
    ours_pairs = [p["exact"]["value"] for p in result["pairs"]]
    print(
        f"pair F1: ours {np.round(ours_pairs, 6).tolist()} seqeval {np.round(pairs, 6).tolist()}; "
        f"token alpha: ours {result['tokens']['krippendorff_alpha']['value']:.6f} krippendorff {alpha:.6f}; "
        f"exact F1 {result['exact']['value']:.4f} {result['exact']['ci95']}; "
        f"breakdown {result['breakdown']['counts']}"
    )


if __name__ == "__main__":
    main()
