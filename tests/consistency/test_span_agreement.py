"""Span agreement (issue 13's kernel): span F1 against seqeval, token-level alpha against the
krippendorff package and kappa against statsmodels, the boundary-vs-label breakdown, and the
issue's edge cases. No database."""

import itertools

import krippendorff
import numpy as np
import pytest
from seqeval.metrics import classification_report, f1_score
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from consistency.agreement import spans as sp
from consistency.agreement import statistics as st

LABELS = ["PER", "ORG", "LOC"]


def generate(seed, *, n_items=40, n_raters=3, nested=False):
    """Texts of words; true entities are runs of tokens; each rater drops, relabels or shortens
    some. Returns texts, per-annotation items and raters, and spans [row, start, end, label]."""
    rng = np.random.default_rng(seed)
    texts, items, raters, spans = [], [], [], []
    for item in range(n_items):
        text = " ".join(f"w{k}" for k in range(rng.integers(4, 14)))
        texts.append(text)
        tokens = sp.tokenize(text)
        truth, t = [], 0
        while t < len(tokens):
            if rng.random() < 0.35:
                end = min(t + int(rng.integers(1, 4)), len(tokens))
                truth.append((t, end, int(rng.integers(0, 3))))
                t = end + 1
            else:
                t += 1
        for rater in range(n_raters):
            row = len(items)
            items.append(item)
            raters.append(rater)
            for a, b, label in truth:
                u = rng.random()
                if u < 0.1:
                    continue
                if u < 0.2:
                    label = (label + 1) % 3
                elif u < 0.3 and b - a > 1:
                    b -= 1
                spans.append((row, tokens[a, 0], tokens[b - 1, 1], label))
                if nested and b - a > 1 and rng.random() < 0.5:
                    spans.append((row, tokens[a, 0], tokens[a, 1], (label + 2) % 3))
    return texts, np.array(items), np.array(raters), np.array(spans, dtype=np.int64).reshape(-1, 4)


def bio_tags(text, row_spans):
    tokens = sp.tokenize(text)
    tags = ["O"] * len(tokens)
    for _, start, end, label in row_spans:
        inside = [k for k in range(len(tokens)) if start <= tokens[k, 0] < end]
        for n, k in enumerate(inside):
            tags[k] = ("B-" if n == 0 else "I-") + LABELS[label]
    return tags


def rater_tags(texts, items, raters, spans, rater):
    out = []
    for item, text in enumerate(texts):
        row = np.nonzero((items == item) & (raters == rater))[0][0]
        out.append(bio_tags(text, spans[spans[:, 0] == row]))
    return out


def token_matrix(texts, items, raters, spans, n_raters):
    """raters x tokens categories, computed plainly: the shortest covering span's label, else O."""
    columns = []
    for item, text in enumerate(texts):
        for t_start, _ in sp.tokenize(text):
            column = np.full(n_raters, np.nan)
            for row in np.nonzero(items == item)[0]:
                covering = [
                    (end - start, label)
                    for _, start, end, label in spans[spans[:, 0] == row]
                    if start <= t_start < end
                ]
                column[raters[row]] = min(covering)[1] if covering else 3
            columns.append(column)
    return np.array(columns).T


@pytest.mark.parametrize("seed", range(4))
def test_pairwise_exact_f1_equals_seqeval_with_either_rater_as_reference(seed):
    texts, items, raters, spans = generate(seed)
    result = sp.span_f1(items, raters, spans, 3, n_boot=100)
    assert len(result["pairs"]) == 3
    for pair in result["pairs"]:
        a = rater_tags(texts, items, raters, spans, pair["rater_a"])
        b = rater_tags(texts, items, raters, spans, pair["rater_b"])
        assert pair["exact"]["value"] == pytest.approx(f1_score(a, b), abs=1e-12)
        assert pair["exact"]["value"] == pytest.approx(f1_score(b, a), abs=1e-12)


def test_per_label_f1_of_two_raters_equals_seqeval_per_type():
    texts, items, raters, spans = generate(7, n_raters=2)
    result = sp.span_f1(items, raters, spans, 3, n_boot=200)
    report = classification_report(
        rater_tags(texts, items, raters, spans, 0),
        rater_tags(texts, items, raters, spans, 1),
        output_dict=True,
    )
    for row in result["exact"]["per_label"]:
        assert row["value"] == pytest.approx(report[LABELS[row["label"]]]["f1-score"], abs=1e-12)
        low, high = row["ci95"]
        assert low <= row["value"] <= high
    assert result["exact"]["value"] == pytest.approx(report["micro avg"]["f1-score"], abs=1e-12)


def test_overlap_f1_equals_a_direct_count():
    texts, items, raters, spans = generate(3, nested=True)
    result = sp.span_f1(items, raters, spans, 3, n_boot=0)
    matched = total = 0
    for item in range(len(texts)):
        rows = np.nonzero(items == item)[0]
        for a, b in itertools.permutations(rows, 2):
            for _, s, e, label in spans[spans[:, 0] == a]:
                total += 1
                matched += any(
                    label2 == label and s2 < e and s < e2 for _, s2, e2, label2 in spans[spans[:, 0] == b]
                )
    assert result["overlap"]["value"] == pytest.approx(matched / total, abs=1e-12)
    assert result["overlap"]["value"] >= result["exact"]["value"]


@pytest.mark.parametrize(("seed", "nested"), [(0, False), (1, True), (2, False)])
def test_token_alpha_equals_krippendorff_and_kappa_equals_statsmodels(seed, nested):
    texts, items, raters, spans = generate(seed, nested=nested)
    tokens = sp.token_table(range(len(texts)), texts)
    result = sp.token_agreement(items, raters, spans, tokens, 3, n_boot=200)
    matrix = token_matrix(texts, items, raters, spans, 3)
    expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
    assert result["krippendorff_alpha"]["value"] == pytest.approx(expected, abs=1e-12)
    table = np.stack([(matrix == c).sum(axis=0) for c in range(4)], axis=1)
    assert result["fleiss_kappa"]["value"] == pytest.approx(sm_fleiss_kappa(table), abs=1e-12)
    assert result["n_tokens"] == matrix.shape[1]
    for key in ("krippendorff_alpha", "fleiss_kappa"):
        low, high = result[key]["ci95"]
        assert low < result[key]["value"] < high


def test_tokenizer_is_the_documented_regex():
    assert sp.tokenize("Dr. Smith's e-mail: x@y.io").tolist() == [
        [0, 2], [2, 3], [4, 9], [9, 10], [10, 11], [12, 13], [13, 14], [14, 18], [18, 19],
        [20, 21], [21, 22], [22, 23], [23, 24], [24, 26],
    ]  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Edge cases named by the issue


def test_no_spans_at_all():
    items, raters = np.repeat(np.arange(4), 2), np.tile([1, 2], 4)
    tokens = sp.token_table(range(4), ["a b c"] * 4)
    result = sp.span_summary(items, raters, np.zeros((0, 4)), tokens, 2, n_boot=50)
    assert result["exact"]["value"] is None
    assert result["exact"]["reason"] == sp.REASON_NO_SPANS
    assert result["overlap"]["reason"] == sp.REASON_NO_SPANS
    assert all(row["reason"] == sp.REASON_NO_SPANS for row in result["exact"]["per_label"])
    assert result["pairs"][0]["exact"] == {"value": None, "reason": sp.REASON_NO_SPANS}
    assert result["breakdown"]["counts"] == dict.fromkeys(sp.RELATIONS, 0)
    assert result["tokens"]["krippendorff_alpha"]["reason"] == st.REASON_ONE_CATEGORY


def test_one_rater_marks_everything():
    texts, items, raters, spans = generate(5)
    everything = []
    for row in np.nonzero(raters == 2)[0]:
        for start, end in sp.tokenize(texts[items[row]]):
            everything.append((row, start, end, 0))
    spans = np.vstack([spans[raters[spans[:, 0]] != 2], np.array(everything)])
    tokens = sp.token_table(range(len(texts)), texts)
    result = sp.span_summary(items, raters, spans, tokens, 3, n_boot=100)
    matrix = token_matrix(texts, items, raters, spans, 3)
    expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
    assert result["tokens"]["krippendorff_alpha"]["value"] == pytest.approx(expected, abs=1e-12)
    pairs = {(p["rater_a"], p["rater_b"]): p["exact"]["value"] for p in result["pairs"]}
    a2 = rater_tags(texts, items, raters, spans, 2)
    a0 = rater_tags(texts, items, raters, spans, 0)
    assert pairs[(0, 2)] == pytest.approx(f1_score(a0, a2), abs=1e-12)
    assert pairs[(0, 2)] < pairs[(0, 1)]


def test_identical_spans_with_different_labels_are_label_disagreements():
    items, raters = np.array([0, 0, 1, 1]), np.array([1, 2, 1, 2])
    spans = np.array([[0, 0, 5, 0], [1, 0, 5, 1], [2, 3, 8, 1], [3, 3, 8, 0]])
    result = sp.span_f1(items, raters, spans, 2, n_boot=50)
    assert result["exact"]["value"] == 0.0
    assert result["overlap"]["value"] == 0.0
    assert result["breakdown"]["counts"] == {
        "exact": 0, "label": 4, "boundary": 0, "boundary_and_label": 0, "missing": 0,
    }  # fmt: skip
    assert result["breakdown"]["disagreements"]["label"] == 1.0


def test_nested_spans_match_by_overlap_and_the_breakdown_tells_boundary_from_label():
    # Rater 1: "New York City" LOC with "New York" LOC nested; rater 2: "New York" LOC only.
    items, raters = np.array([0, 0, 1, 1]), np.array([1, 2, 1, 2])
    spans = np.array([[0, 0, 13, 2], [0, 0, 8, 2], [1, 0, 8, 2], [2, 0, 4, 0], [3, 0, 4, 0]])
    result = sp.span_f1(items, raters, spans, 3, n_boot=0)
    # Exact: "New York" matches both ways and item 1 agrees: 4 of 5 spans matched.
    assert result["exact"]["value"] == pytest.approx(4 / 5)
    assert result["overlap"]["value"] == 1.0
    assert result["breakdown"]["counts"] == {
        "exact": 4, "label": 0, "boundary": 1, "boundary_and_label": 0, "missing": 0,
    }  # fmt: skip
    tokens = sp.token_table([0, 1], ["New York City", "Paris"])
    cells = sp.token_categories(sp._Spans(items, raters, spans, 3), tokens)
    # The shortest covering span labels a token: "City" is LOC for rater 1 and outside for rater 2.
    assert cells[3].tolist() == [2, 2, 2, 2, 2, 3, 0, 0]


def test_a_span_nobody_else_marks_is_missing():
    items, raters = np.array([0, 0]), np.array([1, 2])
    spans = np.array([[0, 0, 3, 0], [0, 5, 9, 1]])
    breakdown = sp.span_f1(items, raters, spans, 2, n_boot=0)["breakdown"]
    assert breakdown["counts"]["missing"] == 2
    assert breakdown["shares"]["missing"] == 1.0


@pytest.mark.parametrize(
    ("items", "raters", "reason"),
    [
        ([], [], st.REASON_EMPTY),
        ([0, 1], [1, 1], st.REASON_ONE_RATER),
        ([0, 1], [1, 2], st.REASON_NO_OVERLAP),
    ],
)
def test_degenerate_inputs_return_none_with_a_reason(items, raters, reason):
    spans = np.array([[0, 0, 2, 0]]) if items else np.zeros((0, 4))
    result = sp.span_summary(items, raters, spans, sp.token_table([0, 1], ["ab", "cd"]), 1, n_boot=20)
    assert result["exact"]["reason"] == reason
    assert result["tokens"]["krippendorff_alpha"]["reason"] == reason
    assert result["pairs"] == []


@pytest.mark.parametrize(
    ("span", "message"),
    [
        ([0, 3, 3, 0], "start < end"),
        ([0, -1, 2, 0], "start < end"),
        ([0, 0, 2, 5], "label"),
        ([9, 0, 2, 0], "rows"),
    ],
)
def test_bad_spans_are_refused(span, message):
    with pytest.raises(ValueError, match=message):
        sp.span_f1([0, 0], [1, 2], np.array([span]), 2)


def test_intervals_are_reproducible():
    texts, items, raters, spans = generate(9)
    first = sp.span_f1(items, raters, spans, 3, n_boot=100, seed=4)
    assert sp.span_f1(items, raters, spans, 3, n_boot=100, seed=4) == first
    low, high = first["exact"]["ci95"]
    assert 0 <= low < first["exact"]["value"] < high <= 1


def test_span_report_has_the_report_keys_and_the_split_labels():
    texts, items, raters, spans = generate(6)
    tokens = sp.token_table(range(len(texts)), texts)
    report = sp.span_report(items, raters, spans, tokens, 3, n_boot=50)
    f1 = sp.span_f1(items, raters, spans, 3, n_boot=50)
    assert report["span_f1"]["exact"] == {k: f1["exact"][k] for k in ("value", "ci95", "reason")}
    assert report["percent_agreement"]["reason"] == sp.REASON_NOT_FOR_SPANS
    assert report["per_label"][0]["value"] == f1["exact"]["per_label"][0]["value"]
    assert sum(row["count"] for row in report["label_confusion"]) * 2 == f1["breakdown"]["counts"]["label"]
    light = sp.span_coefficients(items, raters, spans, tokens, 3, n_boot=0)
    assert light["krippendorff_alpha"]["value"] == report["krippendorff_alpha"]["value"]
    for row in report["per_rater"]:
        mine = [
            p["exact"]["value"] for p in report["span_pairs"] if row["rater"] in (p["rater_a"], p["rater_b"])
        ]
        assert row["mean_span_f1"] == pytest.approx(np.mean(mine))


def loo_by_hand(items, raters, spans):
    """Per rater (defined, matches): the others' majority is every span more than half of them
    marked; a span exactly half of them marked makes the example a tie (not counted)."""
    answers: dict = {}
    for row, (item, rater) in enumerate(zip(items, raters, strict=True)):
        answers.setdefault(item, {})[rater] = {tuple(s[1:]) for s in spans if s[0] == row}
    out: dict = {}
    for by_rater in answers.values():
        for rater, mine in by_rater.items():
            others = [a for r, a in by_rater.items() if r != rater]
            counts: dict = {}
            for answer in others:
                for span in answer:
                    counts[span] = counts.get(span, 0) + 1
            defined, match = out.get(rater, (0, 0))
            if others and not any(2 * c == len(others) for c in counts.values()):
                majority = {span for span, c in counts.items() if 2 * c > len(others)}
                defined, match = defined + 1, match + (mine == majority)
            out[rater] = (defined, match)
    return out


@pytest.mark.parametrize(
    ("seed", "n_raters", "nested"), [(0, 3, False), (1, 4, True), (2, 2, False), (3, 5, True)]
)
def test_agreement_with_the_others_majority_equals_a_direct_count(seed, n_raters, nested):
    _, items, raters, spans = generate(seed, n_items=60, n_raters=n_raters, nested=nested)
    keep = np.random.default_rng(seed).random(len(items)) > 0.15  # some raters skip some items
    rows = np.flatnonzero(keep)
    renumber = np.full(len(items), -1)
    renumber[rows] = np.arange(len(rows))
    spans = spans[keep[spans[:, 0]]]
    spans[:, 0] = renumber[spans[:, 0]]
    items, raters = items[keep], raters[keep]
    data = sp._Spans(items, raters, spans, 3)
    n_def, n_match = sp.loo_majority_agreement(data)
    expected = loo_by_hand(items.tolist(), raters.tolist(), spans.tolist())
    got = {st._py(code): (int(n_def[i]), int(n_match[i])) for i, code in enumerate(data.base.rater_codes)}
    assert got == expected
    assert sum(match for _, match in expected.values()) > 0  # the data has matches to count
