"""Consensus labels: majority vote and Dawid-Skene on simulated raters with planted accuracies."""

import numpy as np

from consistency.agreement import statistics as stats


def simulate(seed: int, n_items: int, accuracies: list[float], n_labels: int, per_item: int):
    """Each item gets `per_item` raters; a rater is right with its accuracy, else picks a wrong label."""
    rng = np.random.default_rng(seed)
    n_raters = len(accuracies)
    truth = rng.choice(
        n_labels, size=n_items, p=np.linspace(2, 1, n_labels) / np.linspace(2, 1, n_labels).sum()
    )
    chosen = np.argsort(rng.random((n_items, n_raters)), axis=1)[:, :per_item]
    items = np.repeat(np.arange(n_items), per_item)
    raters = chosen.ravel()
    true = truth[items]
    right = rng.random(len(items)) < np.asarray(accuracies)[raters]
    wrong = (true + rng.integers(1, n_labels, len(items))) % n_labels
    return items, raters, np.where(right, true, wrong), truth


def test_majority_vote_reports_ties_as_minus_one_with_vote_share():
    items = np.array([7, 7, 7, 3, 3, 9])
    labels = np.array([1, 1, 0, 0, 2, 2])
    vote = stats.majority_vote(items, labels, 3)
    assert vote.items.tolist() == [3, 7, 9]
    assert vote.label.tolist() == [-1, 1, 2]
    np.testing.assert_allclose(vote.share, [0.5, 2 / 3, 1.0])
    assert vote.n_votes.tolist() == [2, 3, 1]


def test_dawid_skene_recovers_planted_accuracies_and_beats_majority_vote():
    accuracies = [0.9, 0.85, 0.8, 0.85, 0.9, 0.4, 0.35]
    items, raters, labels, truth = simulate(0, 6000, accuracies, n_labels=3, per_item=5)
    result = stats.dawid_skene(items, raters, labels, 3)
    assert result.converged
    assert result.n_iter < 100
    assert result.posterior.shape == (6000, 3)
    np.testing.assert_allclose(result.posterior.sum(axis=1), 1.0)
    np.testing.assert_allclose(result.confusion.sum(axis=2), 1.0)
    diagonals = np.diagonal(result.confusion, axis1=1, axis2=2)  # (rater, true class)
    for r, accuracy in enumerate(accuracies):
        np.testing.assert_allclose(diagonals[result.raters.tolist().index(r)], accuracy, atol=0.05)
    np.testing.assert_allclose(result.priors, np.array([2, 1.5, 1]) / 4.5, atol=0.03)

    ds_accuracy = (result.map_label == truth[result.items]).mean()
    vote = stats.majority_vote(items, labels, 3)
    mv_accuracy = (vote.label == truth[vote.items]).mean()
    assert ds_accuracy > mv_accuracy + 0.02


def test_dawid_skene_handles_empty_and_unanimous_input():
    empty = stats.dawid_skene(np.array([], int), np.array([], int), np.array([], int), 3)
    assert empty.posterior.shape == (0, 3)
    assert empty.n_iter == 0
    unanimous = stats.dawid_skene(np.repeat(np.arange(4), 2), np.tile([0, 1], 4), np.ones(8, int), 3)
    assert unanimous.map_label.tolist() == [1, 1, 1, 1]
    assert np.isfinite(unanimous.log_likelihood)


def test_dawid_skene_says_when_it_stopped_before_converging():
    items, raters, labels, _ = simulate(
        3, n_items=300, accuracies=[0.9, 0.7, 0.6, 0.55, 0.5], n_labels=3, per_item=3
    )
    # At the default limit EM is still moving on data like this (it settles after some 150-800
    # iterations): the result says so instead of passing the labels off as settled.
    default = stats.dawid_skene(items, raters, labels, 3)
    assert (default.converged, default.n_iter, default.max_iter) == (False, 100, 100)
    settled = stats.dawid_skene(items, raters, labels, 3, max_iter=5000)
    assert settled.converged is True
    assert 100 < settled.n_iter < 5000
