"""Agreement coefficients checked against independent libraries, published examples and simulation."""

import json
import warnings

import krippendorff
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from irrCAC.raw import CAC
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa
from statsmodels.stats.proportion import proportion_confint

from consistency.agreement import messages
from consistency.agreement import statistics as stats

HYPOTHESIS = settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def long_form(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """item x rater matrix (-1 = missing) -> items, raters, labels arrays."""
    item, rater = np.nonzero(matrix >= 0)
    return item, rater, matrix[item, rater]


def random_matrix(seed: int, n_items: int, n_raters: int, n_labels: int, p_missing: float) -> np.ndarray:
    """Ratings with real signal: each rater copies a latent label or guesses."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_labels, n_items)
    copy = rng.random((n_items, n_raters)) < rng.uniform(0.2, 0.9)
    mat = np.where(copy, truth[:, None], rng.integers(0, n_labels, (n_items, n_raters)))
    mat[rng.random((n_items, n_raters)) < p_missing] = -1
    return mat


designs = st.tuples(
    st.integers(0, 2**32 - 1),
    st.integers(2, 40),  # items
    st.integers(2, 6),  # raters
    st.integers(2, 5),  # labels
)


# --------------------------------------------------------------------------------------------------
# Against independent implementations


@HYPOTHESIS
@given(designs)
def test_fleiss_kappa_equals_statsmodels_on_complete_designs(design):
    seed, n_items, n_raters, n_labels = design
    mat = random_matrix(seed, n_items, n_raters, n_labels, p_missing=0.0)
    table, _ = aggregate_raters(mat, n_cat=n_labels)
    est = stats.fleiss_kappa(*long_form(mat), n_labels, n_boot=50)
    if (table.sum(axis=0) > 0).sum() < 2:
        assert est.value is None
        assert est.reason
        return
    np.testing.assert_allclose(est.value, sm_fleiss_kappa(table), rtol=1e-10, atol=1e-12)


@HYPOTHESIS
@given(designs, st.booleans())
def test_krippendorff_alpha_equals_krippendorff_package_with_missing_data(design, ordinal):
    seed, n_items, n_raters, n_labels = design
    mat = random_matrix(seed, n_items, n_raters, n_labels, p_missing=0.35)
    items, raters, labels = long_form(mat)
    est = stats.krippendorff_alpha(items, raters, labels, n_labels, ordinal=ordinal, n_boot=50)
    pairable_values = np.unique(mat[(mat >= 0).sum(axis=1) >= 2])
    pairable_values = pairable_values[pairable_values >= 0]
    if ((mat >= 0).sum(axis=1) >= 2).sum() < 2 or len(pairable_values) < 2:
        assert est.value is None
        assert est.reason
        return
    reliability = np.where(mat >= 0, mat, np.nan).T
    expected = krippendorff.alpha(
        reliability_data=reliability, level_of_measurement="ordinal" if ordinal else "nominal"
    )
    np.testing.assert_allclose(est.value, expected, rtol=1e-9, atol=1e-12)


@HYPOTHESIS
@given(designs)
def test_gwet_ac1_and_its_interval_equal_irrcac(design):
    seed, n_items, n_raters, n_labels = design
    mat = random_matrix(seed, n_items, n_raters, n_labels, p_missing=0.3)
    mat = mat[(mat >= 0).any(axis=1)]  # an item exists only once someone labels it
    est = stats.gwet_ac1(*long_form(mat), n_labels)
    if ((mat >= 0).sum(axis=1) >= 2).sum() < 2:
        assert est.value is None
        assert est.reason
        return
    frame = pd.DataFrame(np.where(mat >= 0, mat, np.nan))
    ref = CAC(frame, categories=list(range(n_labels))).gwet()["est"]
    # irrCAC rounds to 5 digits.
    np.testing.assert_allclose(est.value, ref["coefficient_value"], atol=6e-6)
    lo, hi = ref["confidence_interval"]
    np.testing.assert_allclose(est.ci95, (max(lo, -1.0), min(hi, 1.0)), atol=6e-6)


@HYPOTHESIS
@given(designs, st.sampled_from([None, "linear", "quadratic"]))
def test_cohen_kappa_pairs_equal_sklearn_and_statsmodels_standard_error(design, weights):
    seed, n_items, n_raters, n_labels = design
    mat = random_matrix(seed, n_items, n_raters, n_labels, p_missing=0.3)
    ordinal = weights is not None
    pairs = stats.cohen_kappa_pairs(
        *long_form(mat), n_labels, ordinal=ordinal, weights=weights or "quadratic"
    )
    seen = set()
    for pair in pairs:
        a, b = pair.rater_a, pair.rater_b
        assert a < b
        seen.add((a, b))
        shared = (mat[:, a] >= 0) & (mat[:, b] >= 0)
        assert pair.n == shared.sum() >= 2
        y1, y2 = mat[shared, a], mat[shared, b]
        if pair.estimate.value is None:
            assert len(np.unique(np.r_[y1, y2])) == 1 or pair.estimate.reason
            continue
        expected = cohen_kappa_score(y1, y2, labels=list(range(n_labels)), weights=weights)
        np.testing.assert_allclose(pair.estimate.value, expected, rtol=1e-9, atol=1e-12)
        table = np.zeros((n_labels, n_labels))
        np.add.at(table, (y1, y2), 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # statsmodels' own H0 z-test divides by zero on perfect tables
            ref = cohens_kappa(table, wt=weights)
        # statsmodels returns NaN when rounding makes the variance a hair below zero; we clip to 0.
        half_width = 1.959963984540054 * np.sqrt(max(ref.var_kappa, 0.0))
        lo, hi = np.clip([expected - half_width, expected + half_width], -1, 1)
        np.testing.assert_allclose(pair.estimate.ci95, (lo, hi), rtol=1e-7, atol=1e-6)
    expected_pairs = {
        (a, b)
        for a in range(n_raters)
        for b in range(a + 1, n_raters)
        if ((mat[:, a] >= 0) & (mat[:, b] >= 0)).sum() >= 2
    }
    assert seen == expected_pairs


@HYPOTHESIS
@given(designs)
def test_per_label_kappas_average_to_fleiss_kappa(design):
    """Fleiss (1971): overall kappa is the p_j(1-p_j)-weighted mean of the category kappas."""
    seed, n_items, n_raters, n_labels = design
    mat = random_matrix(seed, n_items, n_raters, n_labels, p_missing=0.3)
    args = (*long_form(mat), n_labels)
    overall = stats.fleiss_kappa(*args, n_boot=0)
    rows = stats.per_label(*args, n_boot=0)
    if overall.value is None:
        return
    pairable = (mat >= 0).sum(axis=1) >= 2
    counts = np.array([(mat[pairable] == j).sum() for j in range(n_labels)], dtype=float)
    p = counts / counts.sum()
    weight = p * (1 - p)
    kappas = np.array([r["value"] if r["value"] is not None else 0.0 for r in rows])
    np.testing.assert_allclose((weight * kappas).sum() / weight.sum(), overall.value, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------------------------------
# Published worked examples

# Fleiss (1971) Table 1 as reconstructed in statsmodels' tests: 30 patients, 6 psychiatrists, 5 diagnoses.
FLEISS_1971 = np.array(
    [
        [4, 4, 4, 4, 4, 4],
        [2, 2, 2, 5, 5, 5],
        [2, 3, 3, 3, 3, 5],
        [5, 5, 5, 5, 5, 5],
        [2, 2, 2, 4, 4, 4],
        [1, 1, 3, 3, 3, 3],
        [3, 3, 3, 3, 5, 5],
        [1, 1, 3, 3, 3, 4],
        [1, 1, 4, 4, 4, 4],
        [5, 5, 5, 5, 5, 5],
        [1, 4, 4, 4, 4, 4],
        [1, 2, 4, 4, 4, 4],
        [2, 2, 2, 3, 3, 3],
        [1, 4, 4, 4, 4, 4],
        [2, 2, 4, 4, 4, 5],
        [3, 3, 3, 3, 3, 5],
        [1, 1, 1, 4, 5, 5],
        [1, 1, 1, 1, 1, 2],
        [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 5, 5, 5],
        [5, 5, 5, 5, 5, 5],
        [2, 4, 4, 4, 4, 4],
        [2, 2, 4, 5, 5, 5],
        [1, 1, 4, 4, 4, 4],
        [1, 4, 4, 4, 4, 5],
        [2, 2, 2, 2, 2, 4],
        [1, 1, 1, 1, 5, 5],
        [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 3, 3, 3],
        [5, 5, 5, 5, 5, 5],
    ]
)


def test_fleiss_1971_psychiatric_diagnoses():
    est = stats.fleiss_kappa(*long_form(FLEISS_1971 - 1), 5)
    assert round(est.value, 3) == 0.430
    assert est.n_items == 30
    assert est.ci95[0] < 0.430 < est.ci95[1]
    # Fleiss (1971) reports the category kappas too.
    per_label = [round(r["value"], 3) for r in stats.per_label(*long_form(FLEISS_1971 - 1), 5, n_boot=0)]
    assert per_label == [0.245, 0.245, 0.520, 0.471, 0.566]


# Krippendorff (2011) "Computing Krippendorff's Alpha-Reliability", reliability data with missing values:
# 4 observers x 12 units, values 1..5.
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, -1, -1, -1],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, -1, 3],
        [-1, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, -1],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, -1],
    ]
).T


def kripp_args():
    mat = np.where(KRIPPENDORFF_2011 >= 0, KRIPPENDORFF_2011 - 1, -1)
    return (*long_form(mat), 5)


def test_krippendorff_2011_example_nominal_and_ordinal():
    nominal = stats.krippendorff_alpha(*kripp_args())
    ordinal = stats.krippendorff_alpha(*kripp_args(), ordinal=True)
    assert round(nominal.value, 3) == 0.743
    assert round(ordinal.value, 3) == 0.815
    # Unit 12 has a single value and is not pairable.
    assert nominal.n_items == 11


def test_gwet_2014_four_raters_example():
    """The same data is Gwet's (2014) 4-rater example; irrCAC documents AC1 = 0.77544."""
    est = stats.gwet_ac1(*kripp_args())
    assert round(est.value, 5) == 0.77544
    np.testing.assert_allclose(est.ci95, (0.46081, 1.0), atol=1e-5)


# --------------------------------------------------------------------------------------------------
# Interval coverage by simulation


def simulate_population(prevalence, accuracy, n_labels):
    """Population values for raters who report the truth with prob `accuracy`, else a uniform guess."""
    prevalence = np.asarray(prevalence)
    given_true = accuracy * np.eye(n_labels) + (1 - accuracy) / n_labels  # P(label l | true k)
    p_agree = (prevalence[:, None] * given_true**2).sum()
    p = prevalence @ given_true
    pe_kappa = (p**2).sum()
    pe_gwet = (p * (1 - p)).sum() / (n_labels - 1)
    kappa = (p_agree - pe_kappa) / (1 - pe_kappa)
    ac1 = (p_agree - pe_gwet) / (1 - pe_gwet)
    return p_agree, kappa, ac1, given_true


def test_confidence_intervals_cover_the_population_value_about_95_percent():
    prevalence, accuracy, q = [0.5, 0.3, 0.2], 0.6, 3
    p_agree, kappa, ac1, given_true = simulate_population(prevalence, accuracy, q)
    rng = np.random.default_rng(7)
    n_items, n_raters, n_sims = 80, 4, 200
    hits = {"percent_agreement": 0, "fleiss_kappa": 0, "krippendorff_alpha": 0, "gwet_ac1": 0, "cohen": 0}
    truth_of = {"percent_agreement": p_agree, "fleiss_kappa": kappa, "krippendorff_alpha": kappa}
    truth_of["gwet_ac1"] = ac1
    cum = np.cumsum(given_true, axis=1)
    for _ in range(n_sims):
        truth = rng.choice(q, size=n_items, p=prevalence)
        u = rng.random((n_items, n_raters))
        mat = (u[:, :, None] > cum[truth][:, None, :]).sum(axis=2)
        args = (*long_form(mat), q)
        summary = stats.coefficients(*args, n_boot=400, seed=int(rng.integers(2**31)))
        for name, true_value in truth_of.items():
            lo, hi = summary[name]["ci95"]
            hits[name] += lo <= true_value <= hi
        lo, hi = stats.cohen_kappa_pairs(*args)[0].estimate.ci95
        hits["cohen"] += lo <= kappa <= hi
    coverage = {k: v / n_sims for k, v in hits.items()}
    for name, c in coverage.items():
        assert 0.88 <= c <= 0.99, (name, coverage)


# --------------------------------------------------------------------------------------------------
# Degenerate inputs

DEGENERATE = {
    "empty": (np.array([], int), np.array([], int), np.array([], int)),
    "one rater": (np.arange(5), np.zeros(5, int), np.array([0, 1, 2, 1, 0])),
    "no overlap": (np.arange(6), np.arange(6), np.array([0, 1, 2, 1, 0, 1])),
    "single item": (np.zeros(3, int), np.arange(3), np.array([0, 1, 1])),
    "one category": (np.repeat(np.arange(5), 3), np.tile(np.arange(3), 5), np.zeros(15, int)),
}


@pytest.mark.parametrize("case", DEGENERATE)
def test_degenerate_inputs_give_none_with_a_reason_and_no_warning(case):
    items, raters, labels = DEGENERATE[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = stats.agreement_summary(items, raters, labels, 3, n_boot=50)
        summary_ordinal = stats.agreement_summary(items, raters, labels, 3, ordinal=True, n_boot=50)
        stats.dawid_skene(items, raters, labels, 3)
        stats.majority_vote(items, labels, 3)
    json.dumps(summary, allow_nan=False)
    json.dumps(summary_ordinal, allow_nan=False)
    chance_corrected = ["fleiss_kappa", "krippendorff_alpha"]
    if case != "one category":
        chance_corrected += ["percent_agreement", "gwet_ac1"]
    for name in chance_corrected:
        assert summary[name]["value"] is None, name
        assert summary[name]["ci95"] is None
        assert isinstance(summary[name]["reason"], str)
        assert summary[name]["reason"]
    for pair in summary["cohen_kappa"]:
        assert pair["value"] is None
        assert pair["reason"]
    if case == "one category":
        # Raw agreement is perfect, and AC1's chance term is zero here (Gwet's design, as irrCAC).
        assert summary["percent_agreement"]["value"] == 1.0
        assert summary["gwet_ac1"]["value"] == 1.0


def test_a_single_label_scale_is_degenerate_not_an_error():
    items, raters = np.repeat(np.arange(4), 2), np.tile([0, 1], 4)
    summary = stats.agreement_summary(items, raters, np.zeros(8, int), 1, n_boot=20)
    assert summary["gwet_ac1"]["value"] is None
    assert summary["gwet_ac1"]["reason"]
    assert summary["fleiss_kappa"]["value"] is None


def test_invalid_labels_are_rejected():
    with pytest.raises(ValueError, match="n_labels"):
        stats.fleiss_kappa([0, 0], [0, 1], [0, 3], 3)
    with pytest.raises(ValueError, match="only once"):
        stats.fleiss_kappa([0, 0, 1], [0, 0, 1], [0, 1, 1], 3)
    with pytest.raises(ValueError, match="same length"):
        stats.fleiss_kappa([0, 0], [0], [0, 1], 3)


# --------------------------------------------------------------------------------------------------
# Summary structure, codes and reproducibility


def test_summary_is_json_ready_and_reports_caller_codes():
    mat = random_matrix(3, 50, 4, 3, p_missing=0.2)
    item, rater, label = long_form(mat)
    item_ids = 10_000 + 7 * item  # database ids, not 0..n-1
    rater_ids = np.array([41, 17, 99, 5])[rater]
    summary = stats.agreement_summary(item_ids, rater_ids, label, 3, gold={10_000: 0, 10_007: 1})
    compact = stats.agreement_summary(item, rater, label, 3, gold={0: 0, 1: 1})
    json.dumps(summary, allow_nan=False)
    assert {r["rater"] for r in summary["per_rater"]} == {41, 17, 99, 5}
    assert all(isinstance(r["rater"], int) for r in summary["per_rater"])
    assert {(p["rater_a"], p["rater_b"]) for p in summary["cohen_kappa"]} <= {
        (a, b) for a in (5, 17, 41, 99) for b in (5, 17, 41, 99) if a < b
    }
    for key in ("percent_agreement", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1", "label_confusion"):
        assert summary[key] == compact[key]
    assert summary["n_items"] == len(np.unique(item))
    assert summary["n_raters"] == 4
    assert summary["n_annotations"] == len(label)
    assert set(summary["fleiss_kappa"]) == {"value", "ci95", "reason"}
    assert {"rater_a", "rater_b", "n", "value", "ci95"} <= set(summary["cohen_kappa"][0])


def test_bootstrap_is_reproducible_and_seed_dependent():
    args = (*long_form(random_matrix(5, 60, 4, 3, 0.2)), 3)
    a = stats.fleiss_kappa(*args)
    assert stats.fleiss_kappa(*args) == a
    assert stats.fleiss_kappa(*args, seed=1).ci95 != a.ci95
    assert a.ci95[0] < a.value < a.ci95[1]


def test_bootstrap_paths_agree_when_memory_chunks_are_small(monkeypatch):
    """Many distinct count patterns take the index-resampling and block-wise path; same answer."""
    args = (*long_form(random_matrix(11, 300, 12, 6, 0.1)), 6)
    wide = stats.krippendorff_alpha(*args, ordinal=True, n_boot=300)
    monkeypatch.setattr(stats, "_MAX_WEIGHT_CELLS", 2_000)
    narrow = stats.krippendorff_alpha(*args, ordinal=True, n_boot=300)
    assert narrow.value == wide.value
    np.testing.assert_allclose(narrow.ci95, wide.ci95, atol=0.03)


# --------------------------------------------------------------------------------------------------
# Per rater, per label, confusion, diagnostics


def test_per_rater_leave_one_out_majority_and_agreement_with_the_sme():
    # item 0: a,b,c say 0,0,1 -> c disagrees with others' majority (0); a,b: others tie (0 vs 1) -> excluded.
    # item 1: all say 2. item 2: a,b say 1,1 (c absent).
    items = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    raters = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    labels = np.array([0, 0, 1, 2, 2, 2, 1, 1])
    rows = {r["rater"]: r for r in stats.per_rater(items, raters, labels, 3, gold={0: 1, 1: 2})}
    assert rows[0]["n_annotations"] == 3
    assert rows[2]["n_annotations"] == 2
    assert rows[2]["loo_agreement"] == 0.5
    assert rows[2]["n_loo_items"] == 2
    assert rows[0]["loo_agreement"] == 1.0
    assert rows[0]["n_loo_items"] == 2
    sme = {code: row["agreement_with_sme_on_disputed"] for code, row in rows.items()}
    assert (sme[2]["value"], sme[2]["n"]) == (1.0, 2)
    assert (sme[0]["value"], sme[0]["n"]) == (0.5, 2)
    assert sme[0]["per_label"] == [
        {"label": 1, "value": 0.0, "ci95": sme[0]["per_label"][0]["ci95"], "n": 1},
        {"label": 2, "value": 1.0, "ci95": sme[0]["per_label"][1]["ci95"], "n": 1},
    ]
    no_gold = stats.per_rater(items, raters, labels, 3)
    assert all(r["agreement_with_sme_on_disputed"] == {"value": None, "ci95": None, "n": 0, "per_label": []}
               for r in no_gold)  # fmt: skip

    def values(result):
        return [r["agreement_with_sme_on_disputed"]["value"] for r in result]

    named = stats.per_rater(items.astype(str), raters, labels, 3, gold={"0": 1, "1": 2})
    assert values(named) == [sme[k]["value"] for k in (0, 1, 2)]
    as_arrays = stats.per_rater(items, raters, labels, 3, gold=(np.array([1, 0]), np.array([2, 1])))
    assert values(as_arrays) == [sme[k]["value"] for k in (0, 1, 2)]


def test_agreement_with_the_sme_never_scores_a_rater_against_their_own_resolution():
    # Rater 0 resolved item 0 (label 1) and rater 2 item 1 (label 2); each rated the item too.
    items = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    raters = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    labels = np.array([1, 0, 1, 2, 2, 2, 1, 1])
    gold = {0: (1, 0), 1: (2, 2)}
    rows = {
        r["rater"]: r["agreement_with_sme_on_disputed"]
        for r in stats.per_rater(items, raters, labels, 3, gold=gold)
    }
    assert (rows[0]["value"], rows[0]["n"]) == (1.0, 1)  # item 1 only, not their own item 0
    assert (rows[1]["value"], rows[1]["n"]) == (0.5, 2)
    assert (rows[2]["value"], rows[2]["n"]) == (1.0, 1)  # item 0 only
    as_arrays = stats.per_rater(items, raters, labels, 3, gold=([0, 1], [1, 2], [0, 2]))
    assert [r["agreement_with_sme_on_disputed"] for r in as_arrays] == [rows[k] for k in (0, 1, 2)]


@pytest.mark.parametrize(("successes", "n"), [(0, 1), (1, 1), (3, 10), (17, 20), (0, 40), (123, 456)])
def test_wilson_interval_equals_statsmodels(successes, n):
    expected = proportion_confint(successes, n, alpha=0.05, method="wilson")
    np.testing.assert_allclose(stats.wilson_interval(successes, n), expected, rtol=1e-12, atol=1e-12)
    assert np.isnan(stats.wilson_interval(0, 0)).all()


def test_wilson_interval_equals_newcombes_published_examples():
    """Newcombe (1998), Statistics in Medicine 17:857-872, Table I, method 3 (score, no correction)."""
    interval = stats.wilson_interval([81, 15, 0, 1], [263, 148, 20, 29])
    expected = [[0.2553, 0.3662], [0.0624, 0.1605], [0.0, 0.1611], [0.0061, 0.1718]]
    np.testing.assert_allclose(interval, expected, atol=5e-5)
    assert interval.shape == (4, 2)
    assert np.isnan(stats.wilson_interval([3, 0], [10, 0])[1]).all()  # no trials, no interval


def test_label_confusion_counts_split_rater_pairs_most_confused_first():
    # item 0: labels 0,0,1 -> two (0,1) splits; item 1: 1,2 -> one (1,2) split; item 2: 2,2 -> none.
    items = np.array([0, 0, 0, 1, 1, 2, 2])
    raters = np.array([0, 1, 2, 0, 1, 0, 2])
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    assert stats.label_confusion(items, raters, labels, 3) == [
        {"label_a": 0, "label_b": 1, "count": 2},
        {"label_a": 1, "label_b": 2, "count": 1},
    ]


def test_diagnostics_flag_kappa_paradox_few_items_and_an_outlier_rater():
    rng = np.random.default_rng(0)
    n_items, n_raters = 25, 6
    truth = (rng.random(n_items) < 0.08).astype(int)  # label 0 dominates
    mat = np.where(
        rng.random((n_items, n_raters)) < 0.9, truth[:, None], rng.integers(0, 2, (n_items, n_raters))
    )
    mat[:, 5] = rng.integers(0, 2, n_items)  # rater 5 guesses
    codes = {d["code"] for d in stats.diagnostics(*long_form(mat), 2)}
    assert "few_items" in codes
    outliers = [d for d in stats.diagnostics(*long_form(mat), 2) if d["code"] == "outlier_rater"]
    assert [d["rater"] for d in outliers] == [5]

    paradox = np.zeros((200, 2), int)
    paradox[:10, 0] = 1  # 0 dominates; every disagreement involves the rare label
    paradox[5:15, 1] = 1
    diag = stats.diagnostics(*long_form(paradox), 2)
    paradox_rows = [d for d in diag if d["code"] == "kappa_paradox"]
    assert len(paradox_rows) == 1
    assert paradox_rows[0]["label"] == 0
    assert "few_items" not in {d["code"] for d in diag}


def sparse_study(seed, *, n_items=600, n_raters=50, n_bad=6, k=3, q=4, good=(0.75, 0.95)):
    """k of 50 raters per item, drawn with uneven workloads (about 36 labels each, some far fewer);
    good raters give the true label 75-95% of the time, the `n_bad` bad ones 25-45%, else guess."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(q, n_items, p=[0.4, 0.3, 0.2, 0.1])
    workload = rng.dirichlet(np.full(n_raters, 5.0))
    bad = rng.choice(n_raters, n_bad, replace=False)
    accuracy = rng.uniform(*good, n_raters)
    accuracy[bad] = rng.uniform(0.25, 0.45, n_bad)
    raters = np.concatenate([rng.choice(n_raters, k, replace=False, p=workload) for _ in range(n_items)])
    items = np.repeat(np.arange(n_items), k)
    right = rng.random(len(items)) < accuracy[raters]
    labels = np.where(right, truth[items], rng.integers(0, q, len(items)))
    return (items, raters, labels, q), set(bad.tolist())


def outliers(args):
    return {d["rater"]: d for d in stats.diagnostics(*args, n_boot=0) if d["code"] == "outlier_rater"}


def test_outlying_raters_among_fifty_with_sparse_overlap_are_the_bad_ones():
    found = missed = wrong = 0
    missed_with_evidence = with_evidence = 0
    for seed in range(20):
        args, bad = sparse_study(seed)
        flagged = outliers(args)
        found += len(bad & set(flagged))
        missed += len(bad - set(flagged))
        wrong += len(set(flagged) - bad)
        evidence = {r["rater"]: r["n_loo_items"] for r in stats.per_rater(*args)}
        with_evidence += sum(evidence[r] >= 30 for r in bad)
        missed_with_evidence += sum(evidence[r] >= 30 for r in bad - set(flagged))
        for diagnostic in flagged.values():
            low, high = diagnostic["ci95"]
            assert high < diagnostic["rest"]  # the interval supports the flag
            assert f"of {diagnostic['n']} examples" in messages.diagnostic_text(diagnostic)
    assert wrong <= 3  # of 880 good raters in 20 studies (measured: 2)
    assert found / (found + missed) >= 0.7  # measured: 77%
    # The misses are bad raters with few labels, whose intervals are wide: with 30 or more, almost none.
    assert missed_with_evidence <= 0.1 * with_evidence


def test_fifty_equally_good_raters_are_left_alone():
    studies = [sparse_study(seed, n_bad=0, good=(0.85, 0.85))[0] for seed in range(40)]
    assert sum(bool(outliers(args)) for args in studies) <= 2  # at most 5% of studies, by design


def test_the_kappa_paradox_warning_never_fires_on_a_unanimous_set():
    items, raters = np.repeat(np.arange(200), 3), np.tile(np.arange(3), 200)
    one_label = np.zeros(600, dtype=int)
    skewed = np.repeat((np.arange(200) < 10).astype(int), 3)  # 95% label 0, every item unanimous
    for labels in (one_label, skewed):
        codes = {d["code"] for d in stats.diagnostics(items, raters, labels, 2, n_boot=50)}
        assert "kappa_paradox" not in codes
        assert "outlier_rater" not in codes


def test_diagnostics_are_empty_for_a_healthy_study():
    mat = random_matrix(2, 300, 4, 3, 0.0)
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 3, 300)
    mat = np.where(rng.random((300, 4)) < 0.8, truth[:, None], rng.integers(0, 3, (300, 4)))
    assert stats.diagnostics(*long_form(mat), 3) == []


@HYPOTHESIS
@given(designs)
def test_per_rater_and_label_confusion_equal_a_plain_loop(design):
    seed, n_items, n_raters, n_labels = design
    mat = random_matrix(seed, n_items, n_raters, n_labels, p_missing=0.3)
    items, raters, labels = long_form(mat)
    rows = stats.per_rater(items, raters, labels, n_labels)
    confusion = {
        (d["label_a"], d["label_b"]): d["count"]
        for d in stats.label_confusion(items, raters, labels, n_labels)
    }
    expected_confusion: dict[tuple[int, int], int] = {}
    loo = {r: [0, 0] for r in range(n_raters)}
    for i in range(n_items):
        rated = [r for r in range(n_raters) if mat[i, r] >= 0]
        for x, a in enumerate(rated):
            for b in rated[x + 1 :]:
                la, lb = sorted((int(mat[i, a]), int(mat[i, b])))
                if la != lb:
                    expected_confusion[(la, lb)] = expected_confusion.get((la, lb), 0) + 1
            others = np.bincount([mat[i, b] for b in rated if b != a], minlength=n_labels)
            if others.max() > 0 and (others == others.max()).sum() == 1:
                loo[a][0] += 1
                loo[a][1] += int(others.argmax() == mat[i, a])
    assert confusion == expected_confusion
    for row in rows:
        n_def, n_match = loo[row["rater"]]
        assert row["n_loo_items"] == n_def
        assert row["loo_agreement"] == (n_match / n_def if n_def else None)
        assert row["n_annotations"] == (mat[:, row["rater"]] >= 0).sum()


def test_linear_and_quadratic_weights_differ_and_the_summary_says_which():
    # Raters one step apart on a five-point scale: quadratic weights forgive that more than linear ones.
    items, raters = np.repeat(np.arange(40), 2), np.tile([0, 1], 40)
    first = np.arange(40) % 5
    labels = np.column_stack([first, np.clip(first + (np.arange(40) % 2), 0, 4)]).ravel()
    linear = stats.agreement_summary(items, raters, labels, 5, ordinal=True, weights="linear", n_boot=0)
    quadratic = stats.agreement_summary(items, raters, labels, 5, ordinal=True, n_boot=0)
    nominal = stats.agreement_summary(items, raters, labels, 5, n_boot=0)
    assert (linear["kappa_weights"], quadratic["kappa_weights"], nominal["kappa_weights"]) == (
        "linear", "quadratic", None,
    )  # fmt: skip
    a, b = labels[::2], labels[1::2]
    assert linear["cohen_kappa"][0]["value"] == pytest.approx(cohen_kappa_score(a, b, weights="linear"))
    assert quadratic["cohen_kappa"][0]["value"] == pytest.approx(cohen_kappa_score(a, b, weights="quadratic"))
    assert (
        quadratic["cohen_kappa"][0]["value"]
        > linear["cohen_kappa"][0]["value"]
        > nominal["cohen_kappa"][0]["value"]
    )
    with pytest.raises(ValueError, match="weights"):
        stats.cohen_kappa_pairs(items, raters, labels, 5, ordinal=True, weights="cubic")


def test_cohen_pairs_use_the_sparse_path_for_many_raters_with_the_same_result(monkeypatch):
    args = (*long_form(random_matrix(4, 120, 9, 4, 0.4)), 4)
    dense = [p.to_dict() for p in stats.cohen_kappa_pairs(*args, ordinal=True)]
    monkeypatch.setattr(stats, "_MAX_WEIGHT_CELLS", 100)
    sparse = [p.to_dict() for p in stats.cohen_kappa_pairs(*args, ordinal=True)]
    assert sparse == dense
    assert len(dense) == 36


def test_sparse_and_negative_codes_give_the_same_answer():
    item, rater, label = long_form(random_matrix(8, 40, 5, 3, 0.3))
    base = rounded(stats.coefficients(item, rater, label, 3))
    assert rounded(stats.coefficients(item * 10**12 - 5, rater - 3, label, 3)) == base
    # String codes sort differently; the intervals must not depend on how items are numbered.
    assert rounded(stats.coefficients(item.astype(str), rater.astype(str), label, 3)) == base


def rounded(value):
    if isinstance(value, float):
        return round(value, 12)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v) for v in value]
    return value
