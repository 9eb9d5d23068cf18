"""Agreement on label sets (multi-label): MASI alpha against nltk, per-label presence agreement
against the krippendorff package and statsmodels, and the degenerate cases. No database."""

import itertools
from collections import Counter

import krippendorff
import numpy as np
import pytest
from nltk.metrics.agreement import AnnotationTask
from nltk.metrics.distance import masi_distance
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from consistency.agreement import label_sets as ls
from consistency.agreement import statistics as st


def nltk_masi(a: frozenset, b: frozenset) -> float:
    # nltk divides by the union, which two empty sets ("none of these" twice) leave at zero; MASI
    # of two equal sets is 0 by definition (J = M = 1), which is what Concord uses.
    return 0.0 if a == b else masi_distance(a, b)


def nltk_alpha(rows) -> float:
    task = AnnotationTask(
        data=[(f"r{rater}", f"i{item}", frozenset(labels)) for item, rater, labels in rows],
        distance=nltk_masi,
    )
    return task.alpha()


def random_rows(seed, *, n_items=60, n_raters=5, n_labels=6, p_rate=0.7, noise=0.15, density=0.3):
    rng = np.random.default_rng(seed)
    rows = []
    for item in range(n_items):
        truth = rng.random(n_labels) < density
        for rater in range(n_raters):
            if rng.random() < p_rate:
                chosen = truth ^ (rng.random(n_labels) < noise)
                rows.append((item, rater, tuple(int(c) for c in np.nonzero(chosen)[0])))
    return rows


def columns(rows):
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


def krippendorff_presence(rows, label, n_raters):
    """The krippendorff package's nominal alpha on the raters x items presence matrix of a label."""
    n_items = max(r[0] for r in rows) + 1
    matrix = np.full((n_raters, n_items), np.nan)
    for item, rater, labels in rows:
        matrix[rater, item] = float(label in labels)
    return krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")


@pytest.mark.parametrize("seed", range(6))
def test_masi_alpha_equals_nltk_on_random_data(seed):
    rows = random_rows(seed, n_items=40 + 10 * seed, n_raters=3 + seed % 3, n_labels=4 + seed)
    items, raters, sets = columns(rows)
    estimate = ls.masi_alpha(items, raters, sets, 4 + seed, n_boot=200)
    assert estimate.value == pytest.approx(nltk_alpha(rows), abs=1e-12)
    assert estimate.reason is None
    low, high = estimate.ci95
    assert -1 <= low < estimate.value < high <= 1


def test_masi_alpha_with_empty_sets_equals_nltk():
    rows = random_rows(11, n_labels=3, density=0.15)  # many raters answer "none of these"
    assert any(len(labels) == 0 for _, _, labels in rows)
    items, raters, sets = columns(rows)
    assert ls.masi_alpha(items, raters, sets, 3, n_boot=0).value == pytest.approx(nltk_alpha(rows), abs=1e-12)


def test_indicator_matrix_and_code_lists_give_the_same_figures():
    rows = random_rows(3)
    items, raters, sets = columns(rows)
    matrix = ls.indicator_matrix(sets, 6)
    assert matrix.dtype == bool
    assert matrix.shape == (len(rows), 6)
    assert ls.masi_alpha(items, raters, matrix, 6) == ls.masi_alpha(items, raters, sets, 6)


def test_more_than_64_labels_equals_nltk():
    rows = random_rows(5, n_labels=70, density=0.05, noise=0.03)
    items, raters, sets = columns(rows)
    assert ls.masi_alpha(items, raters, sets, 70, n_boot=0).value == pytest.approx(
        nltk_alpha(rows), abs=1e-12
    )


def test_many_distinct_sets_use_the_expanded_expected_disagreement(monkeypatch):
    rows = random_rows(8, n_items=120, n_labels=8, noise=0.3)
    items, raters, sets = columns(rows)
    exact = ls.masi_alpha(items, raters, sets, 8, n_boot=400)
    monkeypatch.setattr(ls, "EXACT_MAX_SETS", 4)
    expanded = ls.masi_alpha(items, raters, sets, 8, n_boot=400)
    # The point estimate never depends on the table being held; the interval moves by O(1/n).
    assert expanded.value == pytest.approx(exact.value, abs=1e-12)
    assert expanded.value == pytest.approx(nltk_alpha(rows), abs=1e-12)
    assert expanded.ci95 == pytest.approx(exact.ci95, abs=0.01)


def test_intervals_are_reproducible_and_move_with_the_seed():
    items, raters, sets = columns(random_rows(2))
    first = ls.masi_alpha(items, raters, sets, 6, seed=1)
    assert ls.masi_alpha(items, raters, sets, 6, seed=1) == first
    assert ls.masi_alpha(items, raters, sets, 6, seed=2).ci95 != first.ci95


def test_masi_distance_matches_nltk_on_every_pair_of_small_sets():
    universe = [frozenset(c) for n in range(4) for c in itertools.combinations(range(3), n)]
    for a, b in itertools.product(universe, universe):
        inter = len(a & b)
        assert ls.masi_distance(inter, len(a), len(b)) == pytest.approx(nltk_masi(a, b), abs=1e-15)


# --------------------------------------------------------------------------------------------------
# Edge cases named by the issue


def test_one_label_always_present():
    rows = [(i, r, (0, *labels)) for i, r, labels in random_rows(4, n_labels=4)]
    rows = [(i, r, tuple(sorted(set(labels)))) for i, r, labels in rows]
    items, raters, sets = columns(rows)
    assert ls.masi_alpha(items, raters, sets, 4, n_boot=0).value == pytest.approx(nltk_alpha(rows), abs=1e-12)
    per_label = ls.per_label(items, raters, sets, 4, n_boot=100)
    assert per_label[0]["alpha"] == {"value": None, "ci95": None, "reason": st.REASON_LABEL_EVERYWHERE}
    assert per_label[0]["kappa"]["reason"] == st.REASON_LABEL_EVERYWHERE
    assert per_label[0]["prevalence"] == 1.0
    for row in per_label[1:]:
        assert row["alpha"]["value"] == pytest.approx(krippendorff_presence(rows, row["label"], 5), abs=1e-12)


def test_a_label_nobody_chooses_is_unused():
    rows = random_rows(6, n_labels=3)
    items, raters, sets = columns(rows)
    unused = ls.per_label(items, raters, sets, 4, n_boot=0)[3]  # a fourth label, never chosen
    assert unused["n_ratings"] == 0
    assert unused["prevalence"] == 0.0
    assert unused["alpha"]["reason"] == unused["kappa"]["reason"] == st.REASON_LABEL_UNUSED


def test_a_rater_who_always_chooses_everything():
    rows = [row for row in random_rows(7, n_raters=4, n_labels=5) if row[1] != 3]
    rows += [(item, 3, tuple(range(5))) for item in range(60)]
    items, raters, sets = columns(rows)
    summary = ls.label_set_summary(items, raters, sets, 5, n_boot=100)
    assert summary["krippendorff_alpha"]["value"] == pytest.approx(nltk_alpha(rows), abs=1e-12)
    for row in summary["per_label"]:
        assert row["alpha"]["value"] == pytest.approx(krippendorff_presence(rows, row["label"], 4), abs=1e-12)
    everything = next(r for r in summary["per_rater"] if r["rater"] == 3)
    others = [r for r in summary["per_rater"] if r["rater"] != 3]
    assert everything["mean_masi_agreement"] < min(r["mean_masi_agreement"] for r in others)


def test_empty_overlap_gives_no_figure_with_its_reason():
    rows = [(item, item % 3, (item % 2,)) for item in range(12)]  # one rater per item
    items, raters, sets = columns(rows)
    summary = ls.label_set_summary(items, raters, sets, 2)
    assert summary["krippendorff_alpha"] == {"value": None, "ci95": None, "reason": st.REASON_NO_OVERLAP}
    assert summary["percent_agreement"]["reason"] == st.REASON_NO_OVERLAP
    assert summary["diagnostics"] == [{"code": st.REASON_NO_OVERLAP}]
    assert all(row["alpha"]["reason"] == st.REASON_NO_OVERLAP for row in summary["per_label"])


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ([], st.REASON_EMPTY),
        ([(0, 1, (0,)), (1, 1, (1,))], st.REASON_ONE_RATER),
        ([(0, 1, (0,)), (0, 2, (1,)), (1, 1, (0,))], st.REASON_ONE_ITEM),
        ([(i, r, (0, 2)) for i in range(5) for r in range(3)], ls.REASON_ONE_LABEL_SET),
        ([(i, r, ()) for i in range(5) for r in range(3)], ls.REASON_ONE_LABEL_SET),
    ],
)
def test_degenerate_inputs_return_none_with_a_reason(rows, reason):
    items, raters, sets = columns(rows) if rows else ([], [], [])
    summary = ls.label_set_summary(items, raters, sets, 3, n_boot=50)
    alpha = summary["krippendorff_alpha"]
    assert alpha == {"value": None, "ci95": None, "reason": reason}
    assert summary["fleiss_kappa"]["reason"] == ls.REASON_NOT_FOR_LABEL_SETS
    assert summary["distance"] == "masi"


def test_identical_sets_on_each_item_agree_fully():
    rows = [(i, r, (i % 3,)) for i in range(9) for r in range(3)]
    items, raters, sets = columns(rows)
    summary = ls.label_set_summary(items, raters, sets, 3, n_boot=50)
    assert summary["krippendorff_alpha"]["value"] == pytest.approx(1.0)
    assert summary["percent_agreement"]["value"] == pytest.approx(1.0)


def test_duplicate_rater_on_an_item_is_refused():
    with pytest.raises(ValueError, match="only once"):
        ls.masi_alpha([1, 1], [5, 5], [(0,), (1,)], 2)


def test_label_codes_out_of_range_are_refused():
    with pytest.raises(ValueError, match="0..n_labels-1"):
        ls.masi_alpha([1, 1], [5, 6], [(0,), (2,)], 2)


# --------------------------------------------------------------------------------------------------
# Per label, per rater, confusion: against plain Python and the reference packages


def test_per_label_alpha_and_kappa_equal_krippendorff_and_statsmodels():
    rows = random_rows(9, n_raters=4, p_rate=1.0, n_labels=5)  # a complete design for statsmodels
    items, raters, sets = columns(rows)
    per_label = ls.per_label(items, raters, sets, 5, n_boot=200)
    for row in per_label:
        j = row["label"]
        assert row["alpha"]["value"] == pytest.approx(krippendorff_presence(rows, j, 4), abs=1e-12)
        table = np.zeros((60, 2))
        for item, _, labels in rows:
            table[item, int(j in labels)] += 1
        assert row["kappa"]["value"] == pytest.approx(sm_fleiss_kappa(table), abs=1e-12)
        assert row["value"] == row["kappa"]["value"]  # single-label per_label's "value" is kappa
        for key in ("alpha", "kappa"):
            low, high = row[key]["ci95"]
            assert low <= row[key]["value"] <= high
        assert row["n_ratings"] == sum(j in labels for _, _, labels in rows)


def test_per_rater_figures_equal_a_direct_count():
    rows = random_rows(10, n_raters=4, n_labels=4)
    items, raters, sets = columns(rows)
    summary = ls.label_set_summary(items, raters, sets, 4, n_boot=0)
    by_item: dict[int, list[tuple[int, frozenset]]] = {}
    for item, rater, labels in rows:
        by_item.setdefault(item, []).append((rater, frozenset(labels)))
    sims: dict[int, list[float]] = {}
    matches: Counter = Counter()
    defined: Counter = Counter()
    for ratings in by_item.values():
        for (ra, sa), (rb, sb) in itertools.combinations(ratings, 2):
            sims.setdefault(ra, []).append(1 - nltk_masi(sa, sb))
            sims.setdefault(rb, []).append(1 - nltk_masi(sa, sb))
        for rater, chosen in ratings:
            others = [s for r, s in ratings if r != rater]
            if not others:
                continue
            votes = Counter(label for s in others for label in s)
            if any(2 * votes[j] == len(others) for j in range(4)):
                continue
            defined[rater] += 1
            matches[rater] += chosen == frozenset(j for j in range(4) if 2 * votes[j] > len(others))
    for row in summary["per_rater"]:
        rater = row["rater"]
        assert row["mean_masi_agreement"] == pytest.approx(np.mean(sims[rater]), abs=1e-12)
        assert row["n_loo_items"] == defined[rater]
        assert row["n_loo_matches"] == matches[rater]


def test_label_confusion_counts_pairs_that_split_between_two_labels():
    rows = [(0, 1, (0,)), (0, 2, (1,)), (1, 1, (0, 2)), (1, 2, (1, 2)), (2, 1, (0,)), (2, 2, (0,))]
    items, raters, sets = columns(rows)
    confusion = ls.label_set_summary(items, raters, sets, 3, n_boot=0)["label_confusion"]
    assert confusion == [{"label_a": 0, "label_b": 1, "count": 2}]


def test_an_outlying_rater_is_flagged_with_label_set_wording():
    rng = np.random.default_rng(0)
    rows = []
    for item in range(200):
        truth = tuple(int(c) for c in np.nonzero(rng.random(4) < 0.4)[0])
        for rater in range(4):
            rows.append((item, rater, truth))
        rows.append((item, 9, tuple(int(c) for c in np.nonzero(rng.random(4) < 0.5)[0])))
    items, raters, sets = columns(rows)
    diagnostics = ls.label_set_summary(items, raters, sets, 4, n_boot=50)["diagnostics"]
    flagged = [d for d in diagnostics if d["code"] == "outlier_rater"]
    assert [d["rater"] for d in flagged] == [9]
    assert flagged[0]["label_sets"] is True


def test_slices_summary_has_the_single_label_keys():
    items, raters, sets = columns(random_rows(1))
    light = ls.coefficients(items, raters, sets, 6, n_boot=50)
    single = st.coefficients([0, 0, 1, 1], [1, 2, 1, 2], [0, 1, 0, 0], 2, n_boot=0)
    assert set(single) <= set(light)
    assert light["krippendorff_alpha"]["value"] == pytest.approx(
        ls.masi_alpha(items, raters, sets, 6, n_boot=0).value
    )


def test_a_project_without_labels_has_only_empty_sets():
    summary = ls.label_set_summary([0, 0, 1, 1], [1, 2, 1, 2], [(), (), (), ()], 0, n_boot=20)
    assert summary["krippendorff_alpha"]["reason"] == ls.REASON_ONE_LABEL_SET
    assert summary["percent_agreement"]["value"] == 1.0
    assert summary["per_label"] == []
    assert [row["loo_agreement"] for row in summary["per_rater"]] == [1.0, 1.0]


def test_pair_alpha_equals_nltk_on_the_two_raters_shared_items():
    rows = random_rows(12, n_raters=3, p_rate=0.8)
    items, raters, sets = columns(rows)
    summary = ls.label_set_summary(items, raters, sets, 6, n_boot=0)
    assert len(summary["pair_alpha"]) == 3
    for pair in summary["pair_alpha"]:
        a, b = pair["rater_a"], pair["rater_b"]
        by_a = {i: s for i, r, s in rows if r == a}
        by_b = {i: s for i, r, s in rows if r == b}
        shared = sorted(set(by_a) & set(by_b))
        two = [(i, a, by_a[i]) for i in shared] + [(i, b, by_b[i]) for i in shared]
        assert pair["n"] == len(shared)
        assert pair["value"] == pytest.approx(nltk_alpha(two), abs=1e-12)
    for row in summary["per_rater"]:
        mine = [p["value"] for p in summary["pair_alpha"] if row["rater"] in (p["rater_a"], p["rater_b"])]
        assert row["mean_pair_alpha"] == pytest.approx(np.mean(mine))
