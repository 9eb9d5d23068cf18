"""Label-issue ranking on seeded data with planted label errors, against cleanlab (test-only reference)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consistency.quality import label_issues as li
from consistency.quality.label_issues import rank_label_issues

try:  # AGPL: a reference for these tests only, never imported by Concord itself
    from cleanlab.filter import find_label_issues
    from cleanlab.multiannotator import get_label_quality_multiannotator, get_majority_vote_label
except ImportError:  # pragma: no cover - requirements-test.txt installs it
    find_label_issues = None

needs_cleanlab = pytest.mark.skipif(
    find_label_issues is None, reason="cleanlab (test-only reference) missing"
)


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def model_probs(rng, truth: np.ndarray, k: int, strength: float, confuse_pairs: bool = False) -> np.ndarray:
    """Out-of-sample-like probabilities: the true class boosted, optionally class pairs (0,1), (2,3)...
    confused with each other, as a real model confuses similar labels."""
    logits = rng.normal(0.0, 1.0, (len(truth), k))
    logits[np.arange(len(truth)), truth] += strength
    if confuse_pairs:
        logits[np.arange(len(truth)), truth ^ 1] += 1.0
    return softmax(logits)


def other_label(rng, truth: np.ndarray, k: int) -> np.ndarray:
    return (truth + rng.integers(1, k, len(truth))) % k


def plant(rng, truth: np.ndarray, probs: np.ndarray, k: int, pattern: str) -> np.ndarray:
    labels = truth.copy()
    n = len(truth)
    if pattern == "uniform":  # 10 % of labels replaced by any other label
        flip = rng.random(n) < 0.10
        labels[flip] = other_label(rng, truth[flip], k)
    elif pattern == "class_pairs":  # asymmetric: 20 % of classes 0, 2, 4... written as 1, 3, 5...
        flip = (truth % 2 == 0) & (rng.random(n) < 0.20)
        labels[flip] = truth[flip] + 1
    elif pattern == "hard_examples":  # errors where the model is least sure (the realistic case)
        sure = probs[np.arange(n), truth]
        flip = (sure < np.quantile(sure, 0.5)) & (rng.random(n) < 0.2)
        labels[flip] = other_label(rng, truth[flip], k)
    else:
        raise AssertionError(pattern)
    return labels


def raters(rng, truth: np.ndarray, k: int, accuracy: np.ndarray, per_example: int) -> np.ndarray:
    """(n, R) annotations: each example labeled by `per_example` of the R raters (-1 elsewhere);
    a rater is right with their accuracy, else picks any other label."""
    n, r_count = len(truth), len(accuracy)
    ann = np.full((n, r_count), -1)
    chosen = np.argsort(rng.random((n, r_count)), axis=1)[:, :per_example]
    rows = np.arange(n)
    for c in range(per_example):
        r = chosen[:, c]
        right = rng.random(n) < accuracy[r]
        ann[rows, r] = np.where(right, truth, other_label(rng, truth, k))
    return ann


def majority_vote(ann: np.ndarray, probs: np.ndarray, k: int) -> np.ndarray:
    """Plurality of the raters, ties broken by the model (as cleanlab's get_majority_vote_label)."""
    counts = np.zeros((len(ann), k))
    for r in range(ann.shape[1]):
        rows = np.flatnonzero(ann[:, r] >= 0)
        counts[rows, ann[rows, r]] += 1
    tied = counts == counts.max(axis=1, keepdims=True)
    return np.where(tied, probs, -1.0).argmax(axis=1)


def recall_at_planted(order: np.ndarray, planted: np.ndarray) -> float:
    """Share of the planted errors among the first len(planted) ranked rows."""
    return np.isin(order[: len(planted)], planted).sum() / len(planted)


def check_shape(res: li.LabelIssues, labels: np.ndarray, k: int) -> None:
    n = len(labels)
    assert sorted(res.order.tolist()) == list(range(n))
    assert np.isfinite(res.quality).all()
    assert (res.quality >= 0).all()
    assert (res.quality <= 1).all()
    assert res.is_issue[res.order[: res.n_issues]].all()  # flagged rows come first
    assert not res.is_issue[res.order[res.n_issues :]].any()
    assert ((res.suggested >= 0) & (res.suggested < k)).all()
    assert (res.suggested[res.is_issue] != labels[res.is_issue]).all()
    assert set(np.unique(res.reason)) <= set(li.REASONS)
    assert (res.reason[res.is_issue] != li.REASON_NONE).all()  # a flagged row always says why


# --------------------------------------------------------------------------------------------------
# A model's probabilities only: confident learning


@pytest.mark.parametrize("pattern", ["uniform", "class_pairs", "hard_examples"])
def test_model_only_finds_planted_errors_at_least_as_well_as_cleanlab(pattern):
    rng = np.random.default_rng(7)
    n, k = 6000, 8
    truth = rng.integers(0, k, n)
    probs = model_probs(rng, truth, k, strength=4.0, confuse_pairs=pattern == "class_pairs")
    labels = plant(rng, truth, probs, k, pattern)
    planted = np.flatnonzero(labels != truth)

    res = rank_label_issues(labels, k, pred_probs=probs)

    check_shape(res, labels, k)
    assert res.method == li.METHOD_CONFIDENT_LEARNING
    ours = recall_at_planted(res.order, planted)
    assert ours >= 0.8, ours
    if find_label_issues is not None:
        ranked = find_label_issues(labels, probs, return_indices_ranked_by="self_confidence", n_jobs=1)
        assert ours >= recall_at_planted(ranked, planted)
    # Every flagged row says why: the model confidently prefers another class, or doubts this one.
    reasons = res.reason[res.is_issue]
    assert np.isin(reasons, [li.REASON_MODEL_DISAGREES_CONFIDENTLY, li.REASON_MODEL_UNSURE]).all()
    assert (reasons == li.REASON_MODEL_DISAGREES_CONFIDENTLY).mean() > 0.5


@needs_cleanlab
@pytest.mark.parametrize("pattern", ["uniform", "class_pairs"])
def test_confident_learning_flags_are_cleanlabs(pattern):
    rng = np.random.default_rng(11)
    n, k = 3000, 6
    truth = rng.integers(0, k, n)
    probs = model_probs(rng, truth, k, strength=2.0, confuse_pairs=pattern == "class_pairs")
    labels = plant(rng, truth, probs, k, pattern)

    for rank_by in li.RANK_BY:
        res = rank_label_issues(labels, k, pred_probs=probs, rank_by=rank_by)
        ranked = find_label_issues(labels, probs, return_indices_ranked_by=rank_by, n_jobs=1)
        np.testing.assert_array_equal(res.order[: res.n_issues], ranked)


# --------------------------------------------------------------------------------------------------
# Several raters (and a model): CROWDLAB; raters only: the weighted vote


def crowd(seed: int, n: int = 4000, k: int = 6):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    probs = model_probs(rng, truth, k, strength=3.0)
    accuracy = np.array([0.95, 0.85, 0.8, 0.7, 0.6, 0.2])  # the last rater mostly guesses
    ann = raters(rng, truth, k, accuracy, per_example=3)
    return rng, truth, probs, ann, k


def test_crowdlab_on_majority_vote_finds_wrong_consensus():
    rng, truth, probs, ann, k = crowd(3)
    labels = majority_vote(ann, probs, k)
    planted = np.flatnonzero(labels != truth)  # consensus the raters got wrong

    res = rank_label_issues(labels, k, pred_probs=probs, annotations=ann)

    check_shape(res, labels, k)
    assert res.method == li.METHOD_CROWDLAB
    ours = recall_at_planted(res.order, planted)
    assert ours >= 0.8, ours
    assert res.annotator_weight.argmin() == 5  # the guesser counts least
    if find_label_issues is not None:
        missing = np.where(ann < 0, np.nan, ann).astype(float)
        np.testing.assert_array_equal(get_majority_vote_label(missing, probs), labels)
        ref = get_label_quality_multiannotator(
            missing, probs, consensus_method="majority_vote", return_weights=True
        )
        scores = ref["label_quality"]["consensus_quality_score"].to_numpy()
        np.testing.assert_allclose(res.quality, scores, atol=1e-12)
        np.testing.assert_allclose(res.annotator_weight, ref["annotator_weight"], rtol=1e-12)
        assert res.model_weight == pytest.approx(ref["model_weight"], rel=1e-12)
        # cleanlab only scores; we put the flagged rows first, which may move a row across the cut.
        assert ours >= recall_at_planted(np.argsort(scores, kind="stable"), planted) - 0.01


@pytest.mark.parametrize("with_model", [True, False])
def test_corrupted_labels_are_found_by_raters(with_model):
    """The current labels came from elsewhere (an import, one careless pass) with 10 % errors; three raters
    per example then labeled them. With or without a model the wrong labels rank first."""
    rng, truth, probs, ann, k = crowd(5)
    labels = plant(rng, truth, probs, k, "uniform")
    planted = np.flatnonzero(labels != truth)

    res = rank_label_issues(labels, k, pred_probs=probs if with_model else None, annotations=ann)

    check_shape(res, labels, k)
    assert res.method == (li.METHOD_CROWDLAB if with_model else li.METHOD_WEIGHTED_VOTE)
    assert recall_at_planted(res.order, planted) >= 0.8
    assert res.annotator_weight.argmin() == 5
    flagged_planted = res.is_issue[planted].mean()
    assert flagged_planted > 0.7
    assert (res.suggested[planted] == truth[planted]).mean() > 0.8
    assert (
        np.isin(res.reason[planted], [li.REASON_RATERS_DISAGREE, li.REASON_MODEL_AND_RATERS_DISAGREE]).mean()
        > 0.7
    )


def test_weighted_vote_with_equally_reliable_raters_is_the_share_who_chose_the_label():
    """Every rater labels every example and all agree equally often, so every weight is equal: the
    quality is then the CROWDLAB vote likelihood of the label's share, computed here by hand."""
    k = 3
    ann = np.array([[0, 0, 0], [0, 0, 1], [0, 1, 2], [1, 1, 0], [2, 2, 2], [1, 2, 0]] * 2)
    ann = np.concatenate([ann, np.roll(ann, 1, axis=1), np.roll(ann, 2, axis=1)])  # symmetric raters
    labels = np.zeros(len(ann), dtype=int)

    res = rank_label_issues(labels, k, annotations=ann)

    share = (ann == 0).mean(axis=1)
    likely = share.mean()  # consensus likelihood: mean share of raters agreeing with the label
    expected = likely * share + (1 - likely) / (k - 1) * (1 - share)
    np.testing.assert_allclose(res.annotator_weight, res.annotator_weight[0])
    np.testing.assert_allclose(res.quality, expected)
    assert (np.diff(share[res.order]) >= 0).all()  # fewest raters for the label first


def to_slots(ann: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, R) rater columns -> (n, S) slots of votes and who cast them, S = most votes on one row,
    slots filled in a shuffled rater order so slot position says nothing about the rater."""
    rng = np.random.default_rng(0)
    n = len(ann)
    slots = int((ann >= 0).sum(axis=1).max())
    votes, who = np.full((n, slots), -1), np.full((n, slots), -1)
    for i in range(n):
        raters = rng.permutation(np.flatnonzero(ann[i] >= 0))
        votes[i, : len(raters)], who[i, : len(raters)] = ann[i, raters], raters
    return votes, who


@pytest.mark.parametrize("with_model", [True, False])
def test_slot_layout_with_annotators_equals_one_column_per_rater(with_model):
    rng, truth, probs, ann, k = crowd(2, n=600)
    labels = plant(rng, truth, probs, k, "uniform")
    votes, who = to_slots(ann)
    assert votes.shape == (600, 3)
    model = probs if with_model else None

    wide = rank_label_issues(labels, k, pred_probs=model, annotations=ann)
    slots = rank_label_issues(labels, k, pred_probs=model, annotations=votes, annotators=who)

    np.testing.assert_allclose(slots.quality, wide.quality, atol=1e-12)
    np.testing.assert_allclose(slots.annotator_weight, wide.annotator_weight, atol=1e-12)
    np.testing.assert_array_equal(slots.is_issue, wide.is_issue)
    np.testing.assert_array_equal(slots.reason, wide.reason)
    np.testing.assert_array_equal(slots.suggested, wide.suggested)


# --------------------------------------------------------------------------------------------------
# Reasons, degenerate input, bad input


def test_reasons_say_which_evidence_doubts_the_label():
    k = 3
    confident_0 = [0.9, 0.05, 0.05]
    probs = np.array(
        [confident_0, confident_0, [0.05, 0.9, 0.05], confident_0, [0.4, 0.3, 0.3], confident_0] * 3
    )
    labels = np.array([0, 1, 1, 0, 0, 0] * 3)
    ann = np.array([[0, 0, -1], [1, 1, -1], [2, 2, 2], [0, 1, -1], [0, 0, 0], [-1, -1, -1]] * 3)

    res = rank_label_issues(labels, k, pred_probs=probs, annotations=ann)

    assert res.reason[:6].tolist() == [
        li.REASON_NONE,  # model and raters agree with the label
        li.REASON_MODEL_DISAGREES_CONFIDENTLY,  # raters say 1, the model confidently 0
        li.REASON_RATERS_DISAGREE,  # model agrees, every rater chose 2
        li.REASON_RATERS_SPLIT,  # one rater each way
        li.REASON_MODEL_UNSURE,  # raters agree, the model is below the class's threshold
        li.REASON_NONE,  # unrated, the model agrees
    ]
    both = rank_label_issues(
        np.array([1, 1, 0, 0, 0]),
        2,
        pred_probs=[[1, 0], [0, 1], [1, 0], [1, 0], [1, 0]],
        annotations=[[0], [1], [0], [0], [0]],
    )
    assert both.reason.tolist() == [li.REASON_MODEL_AND_RATERS_DISAGREE] + [li.REASON_NONE] * 4
    assert both.is_issue.tolist() == [True, False, False, False, False]
    assert both.suggested[0] == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"pred_probs": np.zeros((0, 4))},
        {"annotations": np.zeros((0, 3), dtype=int)},
        {"pred_probs": np.zeros((0, 4)), "annotations": np.zeros((0, 2), dtype=int)},
    ],
)
def test_no_examples_give_an_empty_ranking(kwargs):
    res = rank_label_issues(np.zeros(0, dtype=int), 4, **kwargs)
    assert res.order.shape == res.quality.shape == res.is_issue.shape == res.suggested.shape == (0,)
    assert res.n_issues == 0
    assert res.top(10).size == 0


def test_degenerate_inputs_flag_nothing_and_never_nan():
    n = 50
    rng = np.random.default_rng(0)
    ann = rng.integers(0, 3, (n, 3))
    probs = softmax(rng.normal(size=(n, 3)))
    cases = [
        rank_label_issues(
            np.zeros(n, dtype=int), 1, pred_probs=np.ones((n, 1)), annotations=np.zeros((n, 2), int)
        ),
        rank_label_issues(np.zeros(n, dtype=int), 3),  # no evidence at all
        rank_label_issues(np.zeros(n, dtype=int), 3, annotations=np.zeros((n, 0), int)),  # no rater column
        rank_label_issues(np.zeros(n, dtype=int), 3, annotations=np.full((n, 4), -1)),  # no vote anywhere
    ]
    for res in cases:
        assert res.method == li.METHOD_NONE
        assert res.n_issues == 0
        assert (res.quality == 1).all()
        assert (res.reason == li.REASON_NONE).all()
    # Every label equal, but evidence exists: well defined, no NaN, no crash.
    for kwargs in [{"pred_probs": probs}, {"annotations": ann}, {"pred_probs": probs, "annotations": ann}]:
        res = rank_label_issues(np.zeros(n, dtype=int), 3, **kwargs)
        check_shape(res, np.zeros(n, dtype=int), 3)
    # One rating per example (no overlap to weigh raters by) and rows nobody rated.
    single = np.full((n, 3), -1)
    single[np.arange(0, n, 2), rng.integers(0, 3, n // 2)] = rng.integers(0, 3, n // 2)
    labels = rng.integers(0, 3, n)
    for kwargs in [{"annotations": single}, {"annotations": single, "pred_probs": probs}]:
        res = rank_label_issues(labels, 3, **kwargs)
        check_shape(res, labels, 3)
    res = rank_label_issues(labels, 3, annotations=single)
    unrated = np.arange(1, n, 2)
    assert (res.quality[unrated] == 1).all()
    assert not res.is_issue[unrated].any()
    assert (res.suggested[unrated] == labels[unrated]).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"labels": [0, 3, 1]}, r"labels\[1\] = 3 is outside 0..2"),
        ({"labels": [0.0, 1.0, 1.0]}, "labels must be integer codes"),
        ({"labels": [[0, 1, 1]]}, "labels must be one-dimensional"),
        ({"n_classes": 0}, "n_classes must be an integer >= 1"),
        ({"pred_probs": np.full((3, 2), 0.5)}, r"pred_probs must have shape \(n, n_classes\) = \(3, 3\)"),
        ({"pred_probs": [[0.5, 0.5, 0], [0.2, 0.2, 0.2], [1, 0, 0]]}, "pred_probs row 1 sums to 0.6"),
        (
            {"pred_probs": [[0.5, 0.5, 0], [1.2, -0.2, 0], [1, 0, 0]]},
            r"pred_probs\[1, 0\] = 1.2 is not a probability",
        ),
        ({"pred_probs": [[0.5, 0.5, 0], [np.nan, 0.5, 0.5], [1, 0, 0]]}, r"pred_probs\[1, 0\] = nan"),
        ({"annotations": [[0, 1], [2, 3], [1, -1]]}, r"annotations\[1, 1\] = 3 is outside -1..2"),
        ({"annotations": [[0, 1], [2, 1]]}, r"annotations must have shape \(n, R\) = \(3, R\)"),
        ({"annotations": [[0.0], [1.0], [2.0]]}, "annotations must be integer codes"),
        ({"rank_by": "entropy"}, "rank_by must be one of"),
        ({"annotators": [[0], [1], [2]]}, "annotators needs annotations"),
        (
            {"annotations": [[0, 1], [2, -1], [1, 1]], "annotators": [[0, 1], [2, -1]]},
            "annotators must have the shape",
        ),
        (
            {"annotations": [[0, 1], [2, -1], [1, 1]], "annotators": [[0, 1], [2, 0], [1, 2]]},
            r"annotators\[1, 1\] = 0 does not fit",
        ),
        (
            {"annotations": [[0, 1], [2, -1], [1, 1]], "annotators": [[0, 1], [-1, -1], [1, 2]]},
            r"annotators\[1, 0\] = -1 does not fit",
        ),
        (
            {"annotations": [[0, 1], [2, -1], [1, 1]], "annotators": [[0, 1], [2, -1], [3, 3]]},
            "annotators row 2 names the same rater twice",
        ),
    ],
)
def test_bad_input_is_refused_with_the_position(kwargs, message):
    args = {"labels": [0, 1, 2], "n_classes": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        rank_label_issues(args.pop("labels"), args.pop("n_classes"), **args)


@st.composite
def small_inputs(draw):
    n = draw(st.integers(0, 12))
    k = draw(st.integers(1, 4))
    labels = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)), dtype=int)
    probs = None
    if draw(st.booleans()):
        raw = np.array(draw(st.lists(st.integers(0, 5), min_size=n * k, max_size=n * k)), float).reshape(n, k)
        raw[raw.sum(axis=1) == 0] = 1.0
        probs = raw / raw.sum(axis=1, keepdims=True)
    ann = None
    if draw(st.booleans()):
        r = draw(st.integers(0, 3))
        ann = np.array(draw(st.lists(st.integers(-1, k - 1), min_size=n * r, max_size=n * r)), int).reshape(
            n, r
        )
    return labels, k, probs, ann


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(small_inputs(), st.sampled_from(li.RANK_BY))
def test_any_valid_input_gives_a_well_formed_ranking(inputs, rank_by):
    labels, k, probs, ann = inputs
    res = rank_label_issues(labels, k, pred_probs=probs, annotations=ann, rank_by=rank_by)
    check_shape(res, labels, k)
