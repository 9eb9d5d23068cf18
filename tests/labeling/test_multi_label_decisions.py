"""The decision rules on label sets: per-label majority gives the consensus set, identical sets
are unanimous, a clear majority on every label follows accept_majority, anything else is queued;
the one-example path (labeling's submit) and the set-based path (imports, re-deciding) agree."""

import random

import pytest

from labeling import decisions as rules
from labeling.models import Annotation, ConsensusLabel, Disagreement
from labeling.services.decisions import disagreement_detect, examples_decide
from tests.factories import ExampleFactory, UserFactory


def decide(votes, *, k=3, threshold=0.66, accept_majority=True, ambiguous=False):
    return rules.decide_set(
        votes, k=k, threshold=threshold, accept_majority=accept_majority, ambiguous=ambiguous
    )


def test_identical_sets_from_every_rater_are_unanimous():
    outcome = decide([(1, 2), (2, 1), (1, 2)])
    assert outcome.kind == rules.ACCEPT_UNANIMOUS
    assert outcome.label == (1, 2)
    assert outcome.share == 1.0
    assert (outcome.label_a, outcome.label_b) == (None, None)


def test_identical_empty_sets_are_a_unanimous_none_of_these():
    outcome = decide([(), (), ()])
    assert (outcome.kind, outcome.label, outcome.share) == (rules.ACCEPT_UNANIMOUS, (), 1.0)


def test_per_label_majority_gives_the_consensus_set():
    # billing (1) chosen by 3 of 3, bug (2) by 2 of 3, feature (3) by 1 of 3: {billing, bug}.
    outcome = decide([(1, 2), (1, 2), (1, 3)], threshold=0.66)
    assert outcome.kind == rules.ACCEPT_MAJORITY
    assert outcome.label == (1, 2)
    assert outcome.share == pytest.approx(2 / 3)
    # The labels raters disagreed on, most contested first (both 2-1 here: by label).
    assert (outcome.label_a, outcome.label_b) == (2, 3)


def test_a_clear_majority_is_queued_when_the_project_reviews_majorities():
    outcome = decide([(1, 2), (1, 2), (1,)], accept_majority=False)
    assert (outcome.kind, outcome.reason, outcome.label) == (
        rules.QUEUE,
        rules.REASON_MAJORITY_REVIEW,
        (1, 2),
    )


def test_a_label_below_the_threshold_queues_the_example():
    # bug chosen by 3 of 5: in the per-label majority set, but 0.6 < 0.66 agreement on it.
    outcome = decide([(1, 2), (1, 2), (1, 2), (1,), (1,)], k=5)
    assert (outcome.kind, outcome.reason) == (rules.QUEUE, rules.REASON_BELOW_THRESHOLD)
    assert outcome.label == (1, 2)
    assert outcome.share == pytest.approx(0.6)
    assert outcome.label_a == 2
    # The same votes pass a threshold of 0.6.
    assert decide([(1, 2), (1, 2), (1, 2), (1,), (1,)], k=5, threshold=0.6).kind == rules.ACCEPT_MAJORITY


def test_a_majority_set_that_no_rater_gave_is_queued():
    # With three raters every label is agreed by 2 of 3, but nobody chose "none of these".
    outcome = decide([(1,), (2,), (3,)])
    assert (outcome.kind, outcome.reason, outcome.label) == (rules.QUEUE, rules.REASON_BELOW_THRESHOLD, ())
    # Each label chosen by 2 of 3, yet nobody chose all three.
    assert decide([(1, 2), (1, 3), (2, 3)]).kind == rules.QUEUE


def test_an_even_split_on_a_label_is_queued_as_split():
    outcome = decide([(1, 2), (1,), (1, 2), (1,)], k=4)
    assert (outcome.kind, outcome.reason) == (rules.QUEUE, rules.REASON_SPLIT)
    assert outcome.label == (1,)  # 2 of 4 is not more than half


def test_fewer_votes_than_k_wait_and_a_flag_queues_at_once():
    assert decide([(1,), (1,)]).kind == rules.PENDING
    outcome = decide([(1,)], ambiguous=True)
    assert (outcome.kind, outcome.reason) == (rules.QUEUE, rules.REASON_AMBIGUOUS)


def test_the_rules_agree_with_a_direct_count_on_random_sets():
    rng = random.Random(12)
    for _ in range(500):
        n = rng.randint(1, 6)
        votes = [tuple(sorted(rng.sample(range(4), rng.randint(0, 4)))) for _ in range(n)]
        threshold = rng.choice([0.51, 0.6, 0.66, 0.75, 1.0])
        outcome = decide(votes, k=n, threshold=threshold)
        chosen = {label: sum(label in vote for vote in votes) for label in range(4)}
        assert outcome.label == tuple(label for label in range(4) if chosen[label] * 2 > n)
        agreed = all(max(c, n - c) / n >= threshold - 1e-9 for c in chosen.values())
        agreed = agreed and outcome.label in votes
        if len(set(votes)) == 1:
            assert outcome.kind == rules.ACCEPT_UNANIMOUS
        elif agreed:
            assert outcome.kind == rules.ACCEPT_MAJORITY
        else:
            assert outcome.kind == rules.QUEUE


# ------------------------------------------------------------------------- stored outcomes


@pytest.mark.django_db
def test_one_example_and_set_based_paths_store_the_same_decisions(multi_project):
    project = multi_project
    project.majority_threshold = 0.66
    project.accept_majority = True
    project.save()
    labels = list(project.labels.values_list("pk", flat=True))
    raters = [UserFactory(username=f"r{n}") for n in range(3)]
    rng = random.Random(5)
    examples = []
    for n in range(40):
        example = ExampleFactory(project=project, external_id=f"m{n}")
        for rater in raters:
            chosen = sorted(rng.sample(labels[:3], rng.choice([1, 1, 2])))
            Annotation.objects.create(example=example, rater=rater, labels=chosen)
        example.annotation_count = 3
        example.save(update_fields=["annotation_count"])
        examples.append(example)

    def state():
        consensus = sorted(
            ConsensusLabel.objects.filter(example__project=project).values_list(
                "example_id", "label_id", "labels", "source", "n_raters"
            )
        )
        cases = sorted(
            Disagreement.objects.filter(project=project, status="open").values_list(
                "example_id", "reason", "label_a_id", "label_b_id"
            )
        )
        return consensus, cases

    for example in examples:
        disagreement_detect(project=project, example=example)
    one_by_one = state()
    ConsensusLabel.objects.all().delete()
    Disagreement.objects.all().delete()
    counts = examples_decide(project=project, example_ids=[e.pk for e in examples])
    assert state() == one_by_one
    assert counts.unanimous + counts.majority + counts.queued == 40
    assert counts.queued > 0
    assert counts.majority + counts.unanimous > 0
    # A second pass finds nothing to change.
    assert examples_decide(project=project, example_ids=[e.pk for e in examples]).changed == 0
    for example_id, label_id, labels, source, n_raters in one_by_one[0]:
        assert label_id is None
        assert labels == sorted(labels)
        assert n_raters == 3


@pytest.mark.django_db
def test_a_unanimous_set_becomes_the_consensus_and_a_split_is_queued(multi_project):
    project = multi_project
    billing, bug, feature = (project.labels.get(name=n).pk for n in ("billing", "bug", "feature"))
    raters = [UserFactory(username=f"r{n}") for n in range(3)]
    clean = ExampleFactory(project=project, external_id="clean", annotation_count=3)
    split = ExampleFactory(project=project, external_id="split", annotation_count=3)
    for rater in raters:
        Annotation.objects.create(example=clean, rater=rater, labels=sorted([billing, bug]))
    for rater, chosen in zip(raters, ([billing], [bug], [feature]), strict=True):
        Annotation.objects.create(example=split, rater=rater, labels=chosen)
    examples_decide(project=project, example_ids=[clean.pk, split.pk])
    consensus = ConsensusLabel.objects.get(example=clean)
    assert (consensus.source, consensus.labels, consensus.label_id) == (
        "unanimous",
        sorted([billing, bug]),
        None,
    )
    case = Disagreement.objects.get(example=split, status="open")
    assert case.reason == "below_threshold"
    assert not ConsensusLabel.objects.filter(example=split).exists()
